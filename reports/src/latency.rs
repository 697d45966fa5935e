//! Latency histograms kept whole: an `HdrHistogram` of microseconds,
//! written into the document as `HdrHistogram`'s V2 format compressed with
//! deflate and encoded as base64, so that runs merge and compare exactly.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Significant digits of a step's whole-run histogram: 0.1 % resolution.
pub const RUN_DIGITS: u8 = 3;
/// Significant digits of a one-second interval's histogram: 1 %, enough
/// for a chart, and a fraction of the size.
pub const INTERVAL_DIGITS: u8 = 2;

/// Latencies in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency(Histogram<u64>);

impl Latency {
    /// An empty histogram with `digits` significant digits that grows to
    /// whatever value it is given.
    pub fn new(digits: u8) -> Self {
        Self(Histogram::new(digits).expect("1 to 5 significant digits"))
    }

    /// Records one latency (at least 1 µs: the histogram starts there).
    pub fn record(&mut self, latency: std::time::Duration) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.0.record(us).expect("the histogram grows to any value");
    }

    /// Records `us` microseconds `count` times.
    pub fn record_n(&mut self, us: u64, count: u64) {
        self.0
            .record_n(us.max(1), count)
            .expect("the histogram grows to any value");
    }

    /// Adds every value of `other`.
    pub fn add(&mut self, other: &Self) {
        self.0
            .add(&other.0)
            .expect("the histogram grows to any value");
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The latency `quantile` (0.0 to 1.0) of the values are at or below,
    /// in milliseconds; 0 when empty.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(quantile) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.max() as f64 / 1000.0
    }

    /// The histogram itself, for what this type does not offer.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.0
    }

    /// V2 + deflate, base64.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.0, &mut bytes)
            .expect("a histogram serializes into memory");
        STANDARD.encode(bytes)
    }

    /// The inverse of [`Latency::encode`].
    pub fn decode(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| format!("a latency histogram is not base64: {e}"))?;
        let mut histogram: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("a latency histogram does not decode: {e:?}"))?;
        // Decoded histograms are bounded by their own highest value; a
        // merge adds other documents' values to them.
        histogram.auto(true);
        Ok(Self(histogram))
    }
}

impl Serialize for Latency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Self::decode(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Latency {
    fn schema_name() -> Cow<'static, str> {
        "Latency".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "contentEncoding": "base64",
            "pattern": "^[A-Za-z0-9+/]*={0,2}$",
            "description": "An HdrHistogram of latencies in microseconds, in HdrHistogram's V2 format compressed with deflate (V2 + DEFLATE), base64."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_histogram_survives_encoding_exactly() {
        let mut h = Latency::new(RUN_DIGITS);
        for us in [1u64, 250, 999, 1_000, 1_234, 56_789, 3_000_000] {
            h.record(Duration::from_micros(us));
        }
        let mut back = Latency::decode(&h.encode()).unwrap();
        assert_eq!(back, h);
        // A decoded histogram still takes any value, as a merge adds.
        back.record(Duration::from_secs(60));
        let mut empty = Latency::decode(&Latency::new(INTERVAL_DIGITS).encode()).unwrap();
        empty.add(&back);
        assert_eq!(empty.len(), 8);
        assert!(
            (empty.max_ms() - 60_000.0).abs() < 60.0,
            "{}",
            empty.max_ms()
        );
        assert!(
            (h.quantile_ms(0.5) - 1.0).abs() < 0.002,
            "{}",
            h.quantile_ms(0.5)
        );
        assert!(Latency::decode("not base64!").is_err());
        assert!(
            Latency::decode("aGVsbG8=").is_err(),
            "base64 of no histogram"
        );
    }

    #[test]
    fn adding_histograms_is_recording_all_their_values() {
        let (mut a, mut b, mut all) = (
            Latency::new(RUN_DIGITS),
            Latency::new(RUN_DIGITS),
            Latency::new(RUN_DIGITS),
        );
        for i in 0..5_000u64 {
            let us = 300 + (i * 7919) % 40_000;
            if i % 3 == 0 { &mut a } else { &mut b }.record(Duration::from_micros(us));
            all.record(Duration::from_micros(us));
        }
        a.add(&b);
        assert_eq!(a, all);
    }
}
