//! Domain names: the organisational domain, and a name with its parents.

/// The registrable (organisational) domain of a host, via the public suffix list.
pub fn org_domain(host: &str) -> &str {
    psl::domain_str(host).unwrap_or(host)
}

/// `host` and each of its parent domains, longest first, ending with the
/// top-level label: `a.b.example.com`, `b.example.com`, `example.com`,
/// `com`. A trailing dot is ignored. Lists of domains that cover their
/// subdomains look a name up with this.
pub fn ancestors(host: &str) -> impl Iterator<Item = &str> {
    let host = host.trim_end_matches('.');
    std::iter::successors((!host.is_empty()).then_some(host), |d| {
        d.split_once('.').map(|(_, parent)| parent)
    })
}

/// True when `host` is `domain` or one of its subdomains (ASCII case-insensitive).
pub fn is_within(host: &str, domain: &str) -> bool {
    ancestors(host).any(|d| d.eq_ignore_ascii_case(domain.trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_domains() {
        assert_eq!(org_domain("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("mail.google.com"), "google.com");
    }

    #[test]
    fn ancestors_walk_to_the_top_label() {
        let all: Vec<&str> = ancestors("a.b.example.com.").collect();
        assert_eq!(
            all,
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        assert_eq!(ancestors("").count(), 0);
        assert!(is_within("Mail.Contoso.com", "contoso.com"));
        assert!(!is_within("notcontoso.com", "contoso.com"));
    }
}
