//! The classification core's front door: raw bytes + envelope + rules in,
//! verdict out.
//!
//! Pure and synchronous: no I/O, no clock, no randomness. The same message
//! with the same envelope and rules always gets the same verdict. (Without an
//! envelope, "now" is the receipt time taken from the headers, never the
//! wall clock, so replaying an old corpus is reproducible.)
//!
//! A message is parsed once ([`Parsed`]), prepared under an envelope
//! ([`Prepared`]: policy, direction, origin IP), authenticated by the edge if
//! it can ([`Prepared::auth_subject`]), then classified
//! ([`Prepared::classify`]): the checks report findings and
//! [`crate::decide`] decides.

use crate::authres::AuthResults;
use crate::checks::{Check, Context, CHECKS};
use crate::envelope::Envelope;
use crate::finding::{Finding, Rule};
use crate::model::Model;
use crate::parsed::Parsed;
use crate::prepared::Prepared;
use crate::rules::{Rules, RulesError};
use crate::verdict::Verdict;
use std::path::Path;
use std::sync::Arc;

crate::rules! {
    MSG_NOT_EMAIL: Suspicious, 10.0, "input is not an RFC 5322 message";
    MSG_TOO_LARGE: Suspicious, 10.0, "message exceeds limits.max_message_bytes and was not scanned";
    ENGINE_INTERNAL_ERROR: Suspicious, 10.0, "a check failed on this message (a bug): quarantined for review";
    JOURNAL_MALFORMED: Suspicious, 10.0, "journal report without a usable envelope or original";
    OUTBOUND_FOREIGN_SENDER: Spoof, 100.0, "a tenant's outbound relay sent mail as a domain the tenant does not own (open-relay attempt)";
    INFO_ENVELOPE_DERIVED: None, 0.0, "envelope fields were derived from headers";
    INFO_ORIGIN_IP: None, 0.0, "which IP was taken as the origin, and why";
    INFO_JOURNAL_UNWRAPPED: None, 0.0, "an Exchange journal report was unwrapped";
    ALLOW_TRUSTED_SENDER: None, 0.0, "trusted sender: no checks run";
    ALLOW_EXEMPT_RECIPIENT: None, 0.0, "every recipient is exempt: no checks run";
    ALLOW_ACCEPTABLE_SENDER: None, 0.0, "acceptable sender: exempt from SPAM, BULK and SPOOF";
    ALLOW_IP: None, 0.0, "origin IP on the allow list: exempt from SPAM and BULK";
    AUTH_ALLOW_UNAUTHENTICATED: Spoof, 4.0, "the sender is on an allow list but does not authenticate: the entry is ignored";
    LOOP_ALREADY_STAMPED: None, 0.0, "stamped by this gateway and sent back by its own MTA: not classified again";
}

/// Every built-in rule: the checks' rules plus the engine's own.
pub fn catalogue() -> Vec<Rule> {
    CHECKS
        .iter()
        .flat_map(|c| c.rules.iter())
        .chain(RULES.iter())
        .copied()
        .collect()
}

/// The classifier: holds compiled rules, shared and immutable.
#[derive(Clone, Debug)]
pub struct Engine {
    rules: Arc<Rules>,
}

impl Engine {
    /// An engine over compiled rules.
    pub fn new(rules: Arc<Rules>) -> Engine {
        Engine { rules }
    }

    /// Loads and compiles the rules in `dir` (see [`Rules::load`]).
    pub fn load(dir: &Path) -> Result<Engine, RulesError> {
        Engine::load_with_model(dir, None)
    }

    /// Loads the rules in `dir` and, if given, a trained model the `model`
    /// check weighs. The version is the rules' and the model's together
    /// (see [`Engine::version_of`]).
    pub fn load_with_model(dir: &Path, model: Option<&Path>) -> Result<Engine, RulesError> {
        let mut rules = Rules::load(dir, &catalogue())?;
        if let Some(path) = model {
            let loaded = Model::load(path).map_err(|source| RulesError::Model {
                path: path.to_path_buf(),
                source,
            })?;
            rules.version = format!("{}+{}", rules.version, loaded.version());
            rules.model = Some(Arc::new(loaded));
        }
        Ok(Engine::new(Arc::new(rules)))
    }

    /// The version [`Engine::load_with_model`] would give the same files,
    /// computed cheaply (a reload watcher polls it).
    pub fn version_of(dir: &Path, model: Option<&Path>) -> Result<String, RulesError> {
        let rules = crate::rules::fingerprint(dir)?;
        match model {
            None => Ok(rules),
            Some(path) => Model::fingerprint(path)
                .map(|m| format!("{rules}+{m}"))
                .map_err(|source| RulesError::Model {
                    path: path.to_path_buf(),
                    source,
                }),
        }
    }

    /// The rules in use.
    pub fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }

    /// Parses a message once, under the size limit (see [`Parsed`]).
    pub fn parse(&self, raw: Vec<u8>) -> Arc<Parsed> {
        Arc::new(Parsed::new(raw, &self.rules))
    }

    /// Prepares a parsed message under an envelope. `envelope` is what the
    /// SMTP edge saw; `None` (or gaps in it) are filled from headers and
    /// said so in the evidence.
    pub fn prepare(&self, parsed: Arc<Parsed>, envelope: Option<&Envelope>) -> Prepared {
        Prepared::new(parsed, self.rules.clone(), envelope)
    }

    /// Classifies one message without sender authentication.
    ///
    /// Never panics: a bug in a check becomes an error verdict (SUSPICIOUS,
    /// quarantined) instead of taking the caller down or losing the message.
    pub fn classify(&self, raw: &[u8], envelope: Option<&Envelope>) -> Verdict {
        self.classify_with_auth(raw, envelope, None)
    }

    /// Classifies one message with the sender authentication results the
    /// edge obtained for it (`None`: not authenticated, the `auth` check is
    /// silent).
    pub fn classify_with_auth(
        &self,
        raw: &[u8],
        envelope: Option<&Envelope>,
        auth: Option<&AuthResults>,
    ) -> Verdict {
        self.prepare(self.parse(raw.to_vec()), envelope)
            .classify(auth)
    }

    /// Runs a single check as `classify` would, for unit tests.
    pub fn run_single_check(&self, check: &Check, raw: &[u8], envelope: Envelope) -> Vec<Finding> {
        self.with_context(raw, envelope, |ctx| (check.run)(ctx))
            .unwrap_or_default()
    }

    /// Builds the context the checks see (parse, envelope, origin, content)
    /// and hands it to `f`; `None` if the bytes are not a message. For
    /// tests and benchmarks that look at one stage at a time.
    pub fn with_context<R>(
        &self,
        raw: &[u8],
        envelope: Envelope,
        f: impl FnOnce(&Context<'_>) -> R,
    ) -> Option<R> {
        self.prepare(self.parse(raw.to_vec()), Some(&envelope))
            .with_context(None, f)
    }
}
