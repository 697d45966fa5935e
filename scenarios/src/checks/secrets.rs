//! The secrets check: every service's `secrets.*` from the config it was
//! started with.

use serde_json::Value;

use super::{Check, CheckFuture, Context, Evidence, Scope, Verdict};

pub const SECRETS: Check = Check {
    id: "secrets",
    scope: Scope::All,
    title: "secrets are long, not Ory's example values, not shared between services",
    run: |cx| Box::pin(std::future::ready(secrets(cx))) as CheckFuture<'_>,
};

/// Values from Ory's docs and quickstarts that must never reach a
/// deployment, and words that mark a placeholder.
const EXAMPLE_SECRETS: &[&str] = &[
    "PLEASE-CHANGE-ME-I-AM-VERY-INSECURE",
    "32-LONG-SECRET-NOT-SECURE-AT-ALL",
    "youReallyNeedToChangeThis",
];
const PLACEHOLDER_WORDS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "insecure",
    "not-secure",
    "example",
    "not-for-production",
    "placeholder",
];

/// The secrets of a config: `(key, value)` for every entry of `secrets.*`.
fn secrets_of(config: &Value) -> Vec<(String, String)> {
    let Some(secrets) = config.get("secrets").and_then(Value::as_object) else {
        return Vec::new();
    };
    secrets
        .iter()
        .flat_map(|(kind, values)| {
            let values: Vec<String> = match values {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            values
                .into_iter()
                .enumerate()
                .map(move |(i, v)| (format!("secrets.{kind}[{i}]"), v))
        })
        .collect()
}

/// What's wrong with one secret.
fn secret_faults(value: &str, min: usize) -> Vec<String> {
    let mut faults = Vec::new();
    let lower = value.to_ascii_lowercase();
    if EXAMPLE_SECRETS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(value))
    {
        faults.push("one of Ory's documented example values".to_owned());
    } else if let Some(word) = PLACEHOLDER_WORDS.iter().find(|w| lower.contains(*w)) {
        faults.push(format!("reads as a placeholder ({word:?})"));
    }
    if value.len() < min {
        faults.push(format!(
            "{} characters, the policy wants {min}",
            value.len()
        ));
    }
    faults
}

fn secrets(cx: &Context<'_>) -> Verdict {
    let configs = [
        ("kratos.yml", cx.deployment.config.kratos.as_ref()),
        ("hydra.yml", cx.deployment.config.hydra.as_ref()),
        ("keto.yml", cx.deployment.config.keto.as_ref()),
    ];
    if configs.iter().all(|(_, c)| c.is_none()) {
        return super::no_config("any service");
    }
    let mut evidence = Vec::new();
    let mut all: Vec<(&str, String, String)> = Vec::new();
    for (file, config) in configs {
        let Some(config) = config else { continue };
        // Keto keeps no secrets of its own.
        if file != "keto.yml" && secrets_of(config).is_empty() {
            // Unless the environment sets them, Ory makes secrets up per
            // process (sessions end on every restart) or uses defaults.
            evidence.push(Evidence::config(
                file,
                "secrets",
                "no secrets in the config the gate started; set them (here or by SECRETS_* in the environment the gate is given)",
            ));
        }
        for (key, value) in secrets_of(config) {
            // Kratos' cipher secret is exactly 32 characters by design.
            let min = if key.starts_with("secrets.cipher") {
                32
            } else {
                cx.policy.secrets.min_length
            };
            let faults = secret_faults(&value, min);
            if !faults.is_empty() {
                evidence.push(
                    Evidence::config(file, &key, faults.join("; ")).about(format!("{file} {key}")),
                );
            }
            all.push((file, key, value));
        }
    }
    for (i, (file, key, value)) in all.iter().enumerate() {
        for (other_file, other_key, other) in &all[i + 1..] {
            if value == other && file != other_file {
                evidence.push(Evidence::config(
                    file,
                    key,
                    format!("the same value as {other_file} {other_key}: services share a secret"),
                ));
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{} secrets, none an example, none shared", all.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_from_the_docs_and_short_ones_fail() {
        assert!(secret_faults("PLEASE-CHANGE-ME-I-AM-VERY-INSECURE", 32)[0].contains("example"));
        assert!(secret_faults("short", 32)[0].contains("5 characters"));
        assert!(secret_faults("k3Qx9vLw2mRt7YpZ4nHs8dFj6bGc1aVe", 32).is_empty());
    }
}
