//! Bearer tokens: 32 random bytes shown once as `msq_<hex>`; only their
//! SHA-256 is stored, so a database dump holds no usable token.

use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is recognisable (secret
/// scanners, logs).
pub const PREFIX: &str = "msq_";

/// A new random token.
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the database stores for `token`.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// True when `token` has the shape of one of ours (checked before any
/// database lookup, so garbage never reaches a query).
pub fn well_formed(token: &str) -> bool {
    token.len() == PREFIX.len() + 64
        && token.starts_with(PREFIX)
        && token[PREFIX.len()..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_hashed() {
        let a = generate().expect("token");
        let b = generate().expect("token");
        assert_ne!(a, b);
        assert!(well_formed(&a), "{a}");
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), hash(&b));
        assert!(!hash(&a).contains(&a[PREFIX.len()..]));
        for bad in [
            "",
            "msq_",
            "Bearer x",
            &a[..a.len() - 1],
            &a.replace("msq_", "xyz_"),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
