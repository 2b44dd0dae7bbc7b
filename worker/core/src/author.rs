//! Who the message says it is from, as a mail client shows it.
//!
//! Phishers break the From header on purpose: a name-only first mailbox
//! (`Kundenservice, <a@x>`), a display name with a comma, an address in a
//! comment, a quoted addr-spec, a domain without a TLD or in mathematical
//! letters. A strict parser then finds no author at all and every check
//! that needs one stays silent. [`Author::of`] reads the header the way a
//! reader sees it and lists what was wrong with it, so the checks judge
//! what the victim saw and the anomalies are evidence of their own.
//!
//! Mailing lists that rewrite From to themselves (DMARC mitigation) are
//! recognised too ([`ListRewrite`]): there Reply-To or `X-Original-From`
//! names the author, so a free-mail Reply-To is no diversion.

use crate::fold;
use crate::message::{address_domain, Mailbox, ParsedMessage};
use std::fmt;

/// Longest display name kept (names are evidence, not storage).
const MAX_NAME_CHARS: usize = 200;

/// The sender as a mail client shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Author {
    /// The name shown: the first mailbox's display name, with the name-only
    /// entries before it (a client shows `Nutella partner, jehd` for
    /// `Nutella partner, jehd <a@x>`). Invisible characters removed.
    pub name: Option<String>,
    /// The address shown, `local@domain`, quotes removed.
    pub address: Option<String>,
    /// The address's domain, cleaned: lower case, no trailing dot,
    /// compatibility forms folded (`𝐚𝐨𝐤.𝐝𝐞` → `aok.de`).
    pub domain: Option<String>,
    /// What was wrong with the header.
    pub anomalies: Vec<FromAnomaly>,
    /// Set when a mailing list rewrote From to itself.
    pub list: Option<ListRewrite>,
}

/// A mailing list's From rewriting (Mailman, Google Groups, Sympa): From
/// is the list, the author is elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRewrite {
    /// The list's address (the rewritten From).
    pub list_address: String,
    /// The original author's address, from `X-Original-From` or Reply-To.
    pub author_address: Option<String>,
}

/// Something wrong with the From header that a legitimate mailer does not
/// produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FromAnomaly {
    /// No From header; the address came from Sender (or nowhere).
    Missing {
        /// Sender was used instead.
        used_sender: bool,
    },
    /// Several From header fields.
    SeveralHeaders(usize),
    /// Several mailboxes with addresses in From.
    SeveralMailboxes(usize),
    /// Name-only entries before the address (`Name, <a@x>`).
    NameOnlyEntries,
    /// No mailbox had an address; one was found in a comment or text.
    AddressOutsideMailbox,
    /// A quoted addr-spec (`<"a@x">`).
    QuotedAddress,
    /// A source route (`<@a,@b:user@x>`).
    RouteAddress,
    /// The domain has no dot (`@correios`).
    DomainWithoutTld,
    /// Characters no domain has (`@%correios.com`, `@theskimm,com`).
    DomainIllegalCharacters,
    /// The domain is written in look-alike Unicode forms.
    DomainCompatibilityForms,
    /// Invisible or stacked marks inside the display name.
    HiddenMarksInName,
    /// `Name <>`: a mailbox with an empty address.
    EmptyAddress,
    /// An address with no domain part at all.
    NoDomain,
}

impl fmt::Display for FromAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FromAnomaly::Missing { used_sender: true } => write!(f, "no From header; Sender used"),
            FromAnomaly::Missing { used_sender: false } => write!(f, "no From header"),
            FromAnomaly::SeveralHeaders(n) => write!(f, "{n} From header fields"),
            FromAnomaly::SeveralMailboxes(n) => write!(f, "{n} mailboxes in From"),
            FromAnomaly::NameOnlyEntries => write!(f, "name-only entries before the address"),
            FromAnomaly::AddressOutsideMailbox => write!(
                f,
                "the address is outside any mailbox (in a comment or bare text)"
            ),
            FromAnomaly::QuotedAddress => write!(f, "quoted address"),
            FromAnomaly::RouteAddress => write!(f, "source route in the address"),
            FromAnomaly::DomainWithoutTld => write!(f, "domain without a top-level domain"),
            FromAnomaly::DomainIllegalCharacters => write!(f, "illegal characters in the domain"),
            FromAnomaly::DomainCompatibilityForms => {
                write!(f, "domain in look-alike Unicode letters")
            }
            FromAnomaly::HiddenMarksInName => write!(
                f,
                "invisible characters or stacked marks in the display name"
            ),
            FromAnomaly::EmptyAddress => write!(f, "empty address <>"),
            FromAnomaly::NoDomain => write!(f, "address without a domain"),
        }
    }
}

impl Author {
    /// Reads the author of `msg`.
    pub fn of(msg: &ParsedMessage<'_>) -> Author {
        let mut a = Author::default();
        let from_headers = msg.header_count("From");
        if from_headers > 1 {
            a.anomalies.push(FromAnomaly::SeveralHeaders(from_headers));
        }
        let (mailboxes, raw) = if from_headers == 0 {
            let sender = msg.sender();
            a.anomalies.push(FromAnomaly::Missing {
                used_sender: !sender.is_empty(),
            });
            (sender, msg.header_raw("Sender").unwrap_or(""))
        } else {
            (msg.from(), msg.header_raw("From").unwrap_or(""))
        };
        a.read(&mailboxes, raw);
        a.list = list_rewrite(msg, a.address.as_deref());
        a
    }

    /// Fills name, address and domain from the parser's mailboxes, falling
    /// back to the raw header where the parser found no address.
    fn read(&mut self, mailboxes: &[Mailbox], raw: &str) {
        let with_address: Vec<&Mailbox> = mailboxes
            .iter()
            .filter(|m| m.address.as_deref().is_some_and(|s| !s.trim().is_empty()))
            .collect();
        let distinct: std::collections::BTreeSet<String> = with_address
            .iter()
            .filter_map(|m| m.address.as_deref())
            .map(|s| {
                clean_address(s)
                    .0
                    .to_ascii_lowercase()
                    .trim_end_matches('.')
                    .to_string()
            })
            .collect();
        if distinct.len() > 1 {
            self.anomalies
                .push(FromAnomaly::SeveralMailboxes(distinct.len()));
        }
        let first = mailboxes
            .iter()
            .position(|m| m.address.as_deref().is_some_and(|s| !s.trim().is_empty()));
        let mut names: Vec<&str> = Vec::new();
        match first {
            Some(i) => {
                if mailboxes[..i].iter().any(|m| m.name.is_some()) {
                    self.anomalies.push(FromAnomaly::NameOnlyEntries);
                }
                names.extend(mailboxes[..=i].iter().filter_map(|m| m.name.as_deref()));
                let (address, quoted) =
                    clean_address(mailboxes[i].address.as_deref().unwrap_or(""));
                if quoted {
                    self.anomalies.push(FromAnomaly::QuotedAddress);
                }
                self.set_address(address);
            }
            None => {
                names.extend(mailboxes.iter().filter_map(|m| m.name.as_deref()));
                if let Some(found) = address_in_text(raw) {
                    self.anomalies.push(FromAnomaly::AddressOutsideMailbox);
                    let (address, _) = clean_address(&found);
                    self.set_address(address);
                } else if raw.contains("<>") {
                    self.anomalies.push(FromAnomaly::EmptyAddress);
                }
            }
        }
        if raw.contains("<@") && raw.contains(':') {
            self.anomalies.push(FromAnomaly::RouteAddress);
        }
        let name = names.join(", ");
        if fold::has_hidden_marks(&name) {
            self.anomalies.push(FromAnomaly::HiddenMarksInName);
        }
        let name: String = name
            .chars()
            .filter(|c| !fold::is_invisible(*c))
            .take(MAX_NAME_CHARS)
            .collect();
        let name = name.trim();
        // A name that only repeats the address says nothing more.
        if !name.is_empty() && self.address.as_deref() != Some(name) {
            self.name = Some(name.to_string());
        }
    }

    fn set_address(&mut self, address: String) {
        if address.is_empty() {
            return;
        }
        match address.rsplit_once('@') {
            Some((local, domain)) => {
                let (domain, anomalies) = clean_domain(domain);
                self.anomalies.extend(anomalies);
                if domain.is_empty() {
                    self.anomalies.push(FromAnomaly::NoDomain);
                    self.address = Some(address);
                } else {
                    self.address = Some(format!("{local}@{domain}"));
                    self.domain = Some(domain);
                }
            }
            None => {
                self.anomalies.push(FromAnomaly::NoDomain);
                self.address = Some(address);
            }
        }
    }

    /// The shown name, or "" when there is none.
    pub fn name_or_empty(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// The anomalies as one line of evidence.
    pub fn anomaly_text(&self) -> String {
        self.anomalies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Strips quotes, angle brackets and a source route; says whether the
/// address was quoted whole (`"a@x"`).
fn clean_address(address: &str) -> (String, bool) {
    let mut s = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    let quoted =
        s.len() > 2 && s.starts_with('"') && s.ends_with('"') && s[1..s.len() - 1].contains('@');
    if quoted {
        s = &s[1..s.len() - 1];
    }
    // `@a,@b:user@x`: the route is not the address.
    if s.starts_with('@') {
        if let Some((_, rest)) = s.split_once(':') {
            s = rest;
        }
    }
    (s.trim().to_string(), quoted)
}

/// A domain as a reader sees it, with what is wrong with it.
fn clean_domain(domain: &str) -> (String, Vec<FromAnomaly>) {
    let mut anomalies = Vec::new();
    let trimmed = domain.trim().trim_matches('"').trim_end_matches('.');
    // Compatibility forms (full-width letters, ligatures) and invisible
    // characters are disguise; accents are not (`münchen.de` is a real
    // internationalised domain and stays itself).
    let shown: String = if trimmed.is_ascii() {
        trimmed.to_ascii_lowercase()
    } else {
        use unicode_normalization::UnicodeNormalization;
        trimmed
            .nfkc()
            .filter(|c| !fold::is_invisible(*c))
            .collect::<String>()
            .to_lowercase()
    };
    if !trimmed.is_ascii() && shown != trimmed.to_lowercase() {
        anomalies.push(FromAnomaly::DomainCompatibilityForms);
    }
    let domain = shown.trim_end_matches('.').to_string();
    if domain.is_empty() {
        return (domain, anomalies);
    }
    let legal = |c: char| c.is_alphanumeric() || c == '.' || c == '-' || c == '_';
    if !domain.chars().all(legal) {
        anomalies.push(FromAnomaly::DomainIllegalCharacters);
    } else if !domain.contains('.') && !domain.starts_with('[') {
        anomalies.push(FromAnomaly::DomainWithoutTld);
    }
    (domain, anomalies)
}

/// The first `local@domain` in free text (a comment, a name-only From).
fn address_in_text(raw: &str) -> Option<String> {
    raw.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '[' | ']')
    })
    .map(|t| t.trim_matches(|c| c == '"' || c == '\''))
    .find(|t| {
        t.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
    })
    .map(str::to_string)
}

/// A list that rewrote From to its own address: `List-Id` is present and
/// From is the list's posting address (`List-Post`) or the message
/// carries the original author in `X-Original-From`.
fn list_rewrite(msg: &ParsedMessage<'_>, from: Option<&str>) -> Option<ListRewrite> {
    msg.header_raw("List-Id")?;
    let from = from?.to_ascii_lowercase();
    let post = msg.header_raw("List-Post").and_then(|v| {
        let v = v.to_ascii_lowercase();
        let start = v.find("mailto:")? + "mailto:".len();
        let rest = &v[start..];
        let end = rest.find(['>', '?', ',', ' ']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_string())
    });
    let original = msg
        .header_raw("X-Original-From")
        .and_then(address_in_text)
        .map(|a| clean_address(&a).0);
    let from_is_list = post.as_deref() == Some(from.as_str())
        || (original.is_some()
            && post
                .as_deref()
                .and_then(address_domain)
                .zip(address_domain(&from))
                .is_some_and(|(p, f)| p.eq_ignore_ascii_case(f)));
    if !from_is_list {
        return None;
    }
    let author_address = original.or_else(|| {
        msg.reply_to()
            .into_iter()
            .find_map(|m| m.address)
            .filter(|a| !a.eq_ignore_ascii_case(&from))
    });
    Some(ListRewrite {
        list_address: from,
        author_address,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(from_lines: &str) -> Author {
        let raw = format!("{from_lines}To: bob@contoso.com\r\nSubject: s\r\n\r\nbody\r\n");
        let msg = ParsedMessage::parse(raw.as_bytes()).expect("parses");
        Author::of(&msg)
    }

    /// From lines, the name shown, the address, the anomalies.
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static [FromAnomaly],
    );

    #[test]
    fn what_a_client_shows_for_broken_from_headers() {
        use FromAnomaly::*;
        let table: &[Case] = &[
            (
                "From: \"Alice\" <alice@Example.ORG>\r\n",
                Some("Alice"),
                Some("alice@example.org"),
                &[],
            ),
            (
                "From: alice@example.org\r\n",
                None,
                Some("alice@example.org"),
                &[],
            ),
            // An internationalised domain is itself, accents and all.
            (
                "From: Jörg <joerg@münchen.de>\r\n",
                Some("Jörg"),
                Some("joerg@münchen.de"),
                &[],
            ),
            (
                "From: Nutella partner, jehd <service@stayfriends.de>\r\n",
                Some("Nutella partner, jehd"),
                Some("service@stayfriends.de"),
                &[NameOnlyEntries],
            ),
            (
                "From: Kundenservice, <service@stayfriends.de.>, <service@stayfriends.de>\r\n",
                Some("Kundenservice"),
                Some("service@stayfriends.de"),
                &[NameOnlyEntries],
            ),
            (
                "From: \"Streaming@Netflix.de\", <angebote@newsletter.baur.de>\r\n",
                Some("Streaming@Netflix.de"),
                Some("angebote@newsletter.baur.de"),
                &[NameOnlyEntries],
            ),
            (
                "From: Dies ist Ihre Chance!,(<reply@telekom.com>)\r\n",
                Some("Dies ist Ihre Chance!, <reply@telekom.com>"),
                Some("reply@telekom.com"),
                &[AddressOutsideMailbox],
            ),
            (
                "From: <\"noreply@adac.de\">\r\n",
                None,
                Some("noreply@adac.de"),
                &[QuotedAddress],
            ),
            (
                "From: Correios <noreply@correios>\r\n",
                Some("Correios"),
                Some("noreply@correios"),
                &[DomainWithoutTld],
            ),
            (
                "From: Correios <contato@%correios.com>\r\n",
                Some("Correios"),
                Some("contato@%correios.com"),
                &[DomainIllegalCharacters],
            ),
            (
                "From: AOK <noreply@\u{1D41A}\u{1D428}\u{1D424}.\u{1D41D}\u{1D41E}>\r\n",
                Some("AOK"),
                Some("noreply@aok.de"),
                &[DomainCompatibilityForms],
            ),
            (
                "From: a@x.example, b@y.example\r\n",
                None,
                Some("a@x.example"),
                &[SeveralMailboxes(2)],
            ),
            (
                "From: a@x.example\r\nFrom: b@y.example\r\n",
                None,
                Some("a@x.example"),
                &[SeveralHeaders(2)],
            ),
            (
                "Sender: real@sender.example\r\n",
                None,
                Some("real@sender.example"),
                &[Missing { used_sender: true }],
            ),
            (
                "From: Pay\u{200B}Pal <service@pp-help.example>\r\n",
                Some("PayPal"),
                Some("service@pp-help.example"),
                &[HiddenMarksInName],
            ),
        ];
        let mut wrong = Vec::new();
        for (lines, name, address, anomalies) in table {
            let a = author(lines);
            if a.name.as_deref() != *name
                || a.address.as_deref() != *address
                || &a.anomalies[..] != *anomalies
            {
                wrong.push(format!(
                    "{lines:?}: got {:?} {:?} {:?}",
                    a.name, a.address, a.anomalies
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn list_rewriting_names_the_author() {
        let a = author(
            "From: zhou via USRP-users <usrp-users@lists.ettus.com>\r\nReply-To: zhou <hwzhou@yahoo.com>\r\n\
             List-Id: Discussion <usrp-users.lists.ettus.com>\r\nList-Post: <mailto:usrp-users@lists.ettus.com>\r\n",
        );
        let list = a.list.expect("a list rewrite");
        assert_eq!(list.list_address, "usrp-users@lists.ettus.com");
        assert_eq!(list.author_address.as_deref(), Some("hwzhou@yahoo.com"));
        // A From that is not the list's own address is no rewrite.
        let a = author(
            "From: Mallory <m@evil.example>\r\nReply-To: x@gmail.com\r\nList-Id: <l.example.org>\r\n\
             List-Post: <mailto:l@example.org>\r\n",
        );
        assert_eq!(a.list, None);
    }
}
