// Included by the ed25519 edge-case tests of council-core and of the e2e suite.

/// `[message, public key, signature]`, hex, numbered from 0: the ed25519-speccheck
/// cases, kept once in docs/vectors/ed25519-speccheck.txt.
fn speccheck() -> Vec<[&'static str; 3]> {
    include_str!("../../../../docs/vectors/ed25519-speccheck.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let v: Vec<&str> = l.split_whitespace().collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}
