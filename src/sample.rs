//! A deterministic generator of example events, for benchmarks and tests.
//!
//! Items are shaped like `{"id": N, "name": "item-N", "frequency": F}` with `F` in `0..25`
//! from a fixed linear congruential sequence, so every run sees the same bytes.

/// A direct-invocation event of `items` items: `{"items": [...]}`.
pub fn event(items: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(items * 56 + 16);
    out.extend_from_slice(b"{\"items\": [");
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for id in 0..items {
        if id > 0 {
            out.extend_from_slice(b", ");
        }
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let frequency = (state >> 33) % 25;
        out.extend_from_slice(
            format!("{{\"id\": {id}, \"name\": \"item-{id}\", \"frequency\": {frequency}}}")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn events_are_valid_and_deterministic() {
        let event = super::event(1_000);
        assert_eq!(event, super::event(1_000));
        let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(value["items"].as_array().unwrap().len(), 1_000);
        assert_eq!(value["items"][7]["name"], "item-7");
    }
}
