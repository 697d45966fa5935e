//! The capacity sweep: the same mix at rising fixed rates (the open
//! model), one measured run per rate against the same deployment, and per
//! rate the achieved rate and the rounds' p50/p95/p99 from their intended
//! starts. The capacity is the highest rate at which the latency objective
//! and the error budget still hold, every lower rate holding too.

use std::fmt::Write as _;
use std::str::FromStr;

use reports::document::StepSummary;

/// The most rates one sweep runs.
pub const MAX_STEPS: usize = 40;

/// `FROM:STEP:TO` rounds per second, e.g. `50:50:400`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub from: f64,
    pub step: f64,
    pub to: f64,
}

impl FromStr for Plan {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let shape = || format!("{text:?} is not FROM:STEP:TO rounds per second, e.g. 50:50:400");
        let parts: Vec<f64> = text
            .split(':')
            .map(|p| p.trim().parse::<f64>().map_err(|_| shape()))
            .collect::<Result<_, _>>()?;
        let [from, step, to] = parts[..] else {
            return Err(shape());
        };
        if !(from > 0.0 && step > 0.0 && to >= from && to.is_finite()) {
            return Err(format!(
                "{text:?}: FROM and STEP must be positive and TO at least FROM"
            ));
        }
        let plan = Self { from, step, to };
        if plan.rates().len() > MAX_STEPS {
            return Err(format!(
                "{text:?} is {} rates; a sweep runs at most {MAX_STEPS}",
                plan.rates().len()
            ));
        }
        Ok(plan)
    }
}

impl Plan {
    /// FROM, FROM + STEP, ... up to TO.
    pub fn rates(&self) -> Vec<f64> {
        (0..=MAX_STEPS)
            .map(|i| self.from + self.step * i as f64)
            .take_while(|rate| *rate <= self.to * (1.0 + 1e-9))
            .collect()
    }
}

use reports::document::{Objective, Sweep, SweepStep};

/// The sweep's step at `asked` per second from a run's summaries: its
/// `ROUND` steps (one per profile of the mix; the worst percentiles count).
pub fn step_from_run(
    asked: f64,
    steps: &[StepSummary],
    seconds: f64,
    objective: &Objective,
) -> SweepStep {
    let rounds: Vec<&StepSummary> = crate::summary::rounds(steps).collect();
    SweepStep::from_rounds(asked, &rounds, seconds, objective)
}

/// The sweep as a table, then the capacity.
pub fn render(sweep: &Sweep) -> String {
    let mut out = format!(
        "{:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>9}  holds\n",
        "asked/s", "achieved/s", "rounds", "failed", "p50 ms", "p95 ms", "p99 ms"
    );
    for s in &sweep.steps {
        let _ = writeln!(
            out,
            "{:>10.1} {:>10.1} {:>8} {:>8} {:>9.2} {:>9.2} {:>9.2}  {}",
            s.asked_per_s,
            s.achieved_per_s,
            s.rounds,
            s.failures,
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            if s.holds { "yes" } else { "no" }
        );
    }
    let o = &sweep.objective;
    let _ = writeln!(
        out,
        "capacity (p99 <= {} ms, errors <= {} %, achieved >= {} % of asked): {}",
        o.p99_ms,
        o.error_budget * 100.0,
        o.min_achieved * 100.0,
        sweep.capacity_per_s.map_or_else(
            || "none of the rates held".to_owned(),
            |r| format!("{r:.1} rounds/s")
        )
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn round(p99: f64, requests: u64, failures: u64) -> StepSummary {
        let mut s = reports::merge::empty_step("whoami ROUND [from intended start]");
        s.requests = requests;
        s.failures = failures;
        s.p50_ms = p99 / 4.0;
        s.p95_ms = p99 / 2.0;
        s.p99_ms = p99;
        s.max_ms = p99;
        s
    }

    #[test]
    fn plans_parse_and_bad_ones_say_why() {
        let plan: Plan = "50:50:200".parse().unwrap();
        assert_eq!(plan.rates(), [50.0, 100.0, 150.0, 200.0]);
        assert_eq!("10:5:12".parse::<Plan>().unwrap().rates(), [10.0]);
        for bad in ["50:50", "a:b:c", "0:10:100", "100:10:50", "1:1:1000"] {
            assert!(bad.parse::<Plan>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_capacity_is_the_last_rate_before_the_first_miss() {
        let objective = Objective::new(Duration::from_millis(50), 1.0);
        let at = |asked: f64, p99: f64, failures: u64, achieved: u64| {
            step_from_run(asked, &[round(p99, achieved, failures)], 10.0, &objective)
        };
        let steps = vec![
            at(100.0, 10.0, 0, 1000),
            at(200.0, 20.0, 10, 2000), // 0.5 % errors: within the budget
            at(300.0, 49.0, 0, 2900),  // 96.7 % achieved
            at(400.0, 80.0, 0, 4000),  // p99 over the objective
            at(500.0, 30.0, 0, 5000),  // holds again: noise, not capacity
        ];
        assert!(steps[..3].iter().all(|s| s.holds));
        assert!(!steps[3].holds && steps[4].holds);
        let sweep = Sweep::new(objective, steps);
        assert_eq!(sweep.capacity_per_s, Some(300.0));
        assert!(render(&sweep).contains("capacity (p99 <= 50 ms, errors <= 1 %"));

        assert!(!at(100.0, 10.0, 20, 1000).holds, "2 % errors");
        assert!(!at(100.0, 10.0, 0, 900).holds, "90 % achieved");
        let none = Sweep::new(objective, vec![at(100.0, 90.0, 0, 1000)]);
        assert_eq!(none.capacity_per_s, None);
    }
}
