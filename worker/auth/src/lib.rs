//! mailsift-auth: sender authentication (SPF, DKIM, DMARC and ARC) at the edge.
//!
//! Authentication needs DNS, so it cannot live in the pure core. The flow
//! is the same as for the envelope: the edge (worker, replay, check) asks the
//! prepared message for its [`AuthSubject`] (the message in its one parse,
//! its origin IP after the relay-hop logic, HELO and MAIL FROM), runs an
//! [`Authenticator`] on it, and hands the resulting [`AuthResults`] (plain
//! data the core defines) back to the core, where the `auth` check turns
//! them into findings.
//!
//! DNS comes from a live resolver ([`Authenticator::live`], with per-query
//! deadlines and bounded TTL caches) or, for replay, only from a recorded
//! [`Zone`] ([`Authenticator::recorded`]), served on loopback so that both
//! go through the same resolver code.
//!
//! mail-auth (0.13) does the protocol work, reading the core's parse of the
//! message (no second parse); this crate is the only one that uses it for
//! verification.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dns;
pub mod zone;
pub mod zone_server;

use dns::{DnsCaches, DnsConfig, Lookups};
use futures_util::FutureExt;
use mail_auth::common::crypto::Algorithm;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, SpfResult};
pub use mailsift_core::authres::{
    without_comments, ArcCheck, AuthResult, AuthResults, AuthSubject, DkimCheck, DmarcCheck,
    DmarcPolicy, SpfCheck,
};
use mailsift_core::domain::org_domain;
use mailsift_core::message::address_domain;
use mailsift_telemetry::events::DnsFailed;
use mailsift_telemetry::Telemetry;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use zone::Zone;
use zone_server::ZoneServer;

/// Setting up authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The resolver could not be built (bad configuration, no resolv.conf).
    #[error("cannot set up the DNS resolver: {0} (give nameservers with --dns-server)")]
    Resolver(String),
    /// A recorded zone could not be loaded.
    #[error(transparent)]
    Zone(#[from] zone::ZoneError),
    /// The loopback server for a recorded zone could not start.
    #[error("cannot start the recorded-DNS server on 127.0.0.1: {0}")]
    Server(std::io::Error),
    /// The async runtime for DNS could not start.
    #[error("cannot start the DNS runtime: {0}")]
    Runtime(std::io::Error),
}

/// Why authentication was skipped when mail-auth panicked (a bug).
pub const INTERNAL_ERROR: &str = "internal error in authentication (a bug): results unknown";

/// Runs SPF, DKIM, ARC and DMARC with one DNS source and shared caches.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    caches: DnsCaches,
    deadline: Duration,
    host_domain: String,
    _server: Option<ZoneServer>,
}

impl Authenticator {
    /// Live DNS, as configured. Must run inside a tokio runtime.
    pub fn live(cfg: &DnsConfig, host_domain: &str) -> Result<Authenticator, AuthError> {
        Ok(Authenticator {
            resolver: dns::resolver(cfg)?,
            caches: DnsCaches::new(cfg),
            deadline: deadline(cfg),
            host_domain: host_domain.to_string(),
            _server: None,
        })
    }

    /// Answers only from `zone` (a name not in it is NXDOMAIN; `TIMEOUT`
    /// entries time out). Must run inside a tokio runtime, which serves the
    /// zone on a loopback port. The server answers in microseconds, so a
    /// query unanswered after 100 ms is a recorded timeout: replay does not
    /// wait the live deadline for it.
    pub async fn recorded(
        zone: Zone,
        cfg: &DnsConfig,
        host_domain: &str,
    ) -> Result<Authenticator, AuthError> {
        let server = ZoneServer::start(Arc::new(zone))
            .await
            .map_err(AuthError::Server)?;
        let cfg = DnsConfig {
            servers: vec![server.addr()],
            attempts: 1,
            timeout: cfg.timeout.min(Duration::from_millis(100)),
            message_deadline: cfg.message_deadline.min(Duration::from_secs(2)),
            ..cfg.clone()
        };
        Ok(Authenticator {
            resolver: dns::resolver(&cfg)?,
            caches: DnsCaches::new(&cfg),
            deadline: deadline(&cfg),
            host_domain: host_domain.to_string(),
            _server: Some(server),
        })
    }

    /// The shared caches (for measurements and tests).
    pub fn caches(&self) -> &DnsCaches {
        &self.caches
    }

    /// Counts DNS lookups, cache hits and failures into `telemetry`.
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Authenticator {
        self.caches.telemetry = Some(telemetry);
        self
    }

    /// Authenticates one message.
    pub async fn authenticate(&self, subject: &AuthSubject<'_>) -> AuthResults {
        self.authenticate_recording(subject, false).await.0
    }

    /// Authenticates one message and, if `record`, also returns the DNS
    /// answers it depended on as a zone that replays it exactly.
    pub async fn authenticate_recording(
        &self,
        subject: &AuthSubject<'_>,
        record: bool,
    ) -> (AuthResults, Option<Zone>) {
        let lookups = if record {
            Lookups::recording()
        } else {
            Lookups::default()
        };
        // mail-auth runs on input bytes outside the engine's panic guard: a
        // panic there becomes a result saying so, not a lost task.
        let guarded = AssertUnwindSafe(self.run(subject, &lookups)).catch_unwind();
        let results = match tokio::time::timeout(self.deadline, guarded).await {
            Ok(Ok(results)) => results,
            Ok(Err(_)) => {
                let mut r = AuthResults::skipped(INTERNAL_ERROR);
                r.temp_failures.push("internal error".into());
                r
            }
            Err(_) => {
                let mut r = AuthResults::skipped(format!(
                    "authentication took longer than {} ms",
                    self.deadline.as_millis()
                ));
                r.temp_failures.push("deadline".into());
                r
            }
        };
        if let Some(t) = &self.caches.telemetry {
            for failure in &results.temp_failures {
                let protocol = failure.split_whitespace().next().unwrap_or("dns");
                let protocol = match protocol {
                    "spf" => "spf",
                    "dkim" => "dkim",
                    "dmarc" => "dmarc",
                    "deadline" => "deadline",
                    _ => "other",
                };
                DnsFailed { protocol }.emit(t);
            }
        }
        let zone = if record {
            let ip = subject.ip.unwrap_or(IpAddr::from([0, 0, 0, 0]));
            let asked = lookups.asked();
            let deadline = tokio::time::Instant::now() + self.deadline;
            Some(dns::record(&self.resolver, &asked, ip, deadline).await)
        } else {
            None
        };
        (results, zone)
    }

    async fn run(&self, subject: &AuthSubject<'_>, lookups: &Lookups) -> AuthResults {
        // mail-auth reads the core's parse: the message is parsed once.
        let parsed = subject.message;
        let mut msg = AuthenticatedMessage::from_parsed(parsed.mail_parser(), parsed.raw(), true);
        // Each protocol has its own TXT view: a name cached as one record
        // type (say an SPF `include:` of `_dmarc.bank.example`) must never
        // answer another protocol's lookup.
        let views = self.caches.views(lookups);
        // Each stage has its own share of the deadline, so slow DNS for
        // signatures an attacker chose cannot starve SPF and DMARC.
        let stage = self.deadline / 4;
        let mut results = AuthResults::default();
        let mut temp = Vec::new();
        // A signature aligned with the From whose key lookup failed.
        let mut aligned_dkim_unknown = false;
        let from_org = msg
            .from
            .first()
            .and_then(|a| address_domain(a))
            .map(|d| org_domain(&d.to_ascii_lowercase()).to_string())
            .unwrap_or_default();
        let aligned = |d: &str| !from_org.is_empty() && org_domain(d) == from_org;
        let ignored = msg.dkim_headers.len().saturating_sub(MAX_DKIM_SIGNATURES);
        msg.dkim_headers.truncate(MAX_DKIM_SIGNATURES);
        // Whether any signature could authenticate the From at all: only
        // then can a slow or failed key lookup change DMARC.
        let aligned_signature = msg
            .dkim_headers
            .iter()
            .any(|h| aligned(&h.header.d.to_ascii_lowercase()));

        let dkim_output = match tokio::time::timeout(
            stage,
            self.resolver
                .verify_dkim(views.parameters(&msg, &views.txt_dkim)),
        )
        .await
        {
            Ok(out) => out,
            Err(_) => {
                if aligned_signature {
                    temp.push("dkim (deadline)".into());
                    aligned_dkim_unknown = true;
                }
                Vec::new()
            }
        };
        if ignored > 0 {
            results.dkim.push(DkimCheck {
                result: AuthResult::PermError,
                reason: Some(format!(
                    "{ignored} signatures over the limit of {MAX_DKIM_SIGNATURES} ignored"
                )),
                ..DkimCheck::default()
            });
        }
        for out in &dkim_output {
            let (result, reason) = dkim_result(out.result());
            let sig = out.signature();
            let domain = sig.map(|s| s.d.to_ascii_lowercase()).unwrap_or_default();
            // Only a signature that could authenticate the From matters
            // when its key lookup fails.
            if result == AuthResult::TempError && aligned(&domain) {
                temp.push(format!("dkim ({domain})"));
                aligned_dkim_unknown = true;
            }
            results.dkim.push(DkimCheck {
                result,
                domain,
                selector: sig.map(|s| s.s.clone()).unwrap_or_default(),
                reason,
            });
        }

        match tokio::time::timeout(
            stage,
            self.resolver
                .verify_arc(views.parameters(&msg, &views.txt_dkim)),
        )
        .await
        {
            Ok(out) => results.arc = arc_check(&msg, &out),
            Err(_) => {
                results.arc.result = AuthResult::TempError;
                results.arc.reason = Some("deadline".into());
            }
        }

        let helo = subject.helo.unwrap_or("");
        let mail_from = subject.mail_from.unwrap_or("").trim();
        let spf_params = subject
            .ip
            .and_then(|ip| self.spf_parameters(ip, helo, mail_from));
        let spf_output = match spf_params {
            Some((p, identity)) => {
                results.spf.identity = identity.into();
                let out = tokio::time::timeout(
                    stage,
                    self.resolver
                        .verify_spf(views.parameters(p, &views.txt_spf)),
                )
                .await;
                let out = out.unwrap_or_else(|_| {
                    mail_auth::SpfOutput::new(String::new()).with_result(SpfResult::TempError)
                });
                results.spf.result = spf_result(out.result());
                results.spf.domain = out.domain().to_ascii_lowercase();
                results.spf.ip = subject.ip;
                out
            }
            None => mail_auth::SpfOutput::new(String::new()),
        };
        if results.spf.result == AuthResult::TempError {
            temp.push(format!("spf ({})", results.spf.domain));
        }

        let mail_from_domain = address_domain(mail_from)
            .unwrap_or(helo)
            .to_ascii_lowercase();
        let dmarc = tokio::time::timeout(
            stage,
            self.resolver.verify_dmarc(views.parameters(
                DmarcParameters::new(&msg, &dkim_output, &mail_from_domain, &spf_output),
                &views.txt_dmarc,
            )),
        )
        .await;
        let Ok(dmarc) = dmarc else {
            results.dmarc.result = AuthResult::TempError;
            temp.push("dmarc (deadline)".into());
            results.temp_failures = temp;
            return results;
        };
        let policy = match (dmarc.dmarc_record().is_some(), dmarc.policy()) {
            (false, _) => DmarcPolicy::Absent,
            (true, mail_auth::dmarc::Policy::Reject) => DmarcPolicy::Reject,
            (true, mail_auth::dmarc::Policy::Quarantine) => DmarcPolicy::Quarantine,
            (true, _) => DmarcPolicy::None,
        };
        let domain = dmarc.domain().to_ascii_lowercase();
        let (spf_aligned, dkim_aligned) = if policy == DmarcPolicy::Absent {
            // Without a record mail-auth does not evaluate alignment; do it
            // (relaxed, organisational domains) for the no-DMARC rules.
            let org = org_domain(&domain);
            (
                results.spf.result == AuthResult::Pass
                    && !domain.is_empty()
                    && org_domain(&results.spf.domain) == org,
                !domain.is_empty()
                    && results
                        .dkim
                        .iter()
                        .any(|d| d.result == AuthResult::Pass && org_domain(&d.domain) == org),
            )
        } else {
            (
                dmarc.spf_result() == &DmarcResult::Pass,
                dmarc.dkim_result() == &DmarcResult::Pass,
            )
        };
        let mut result = match dmarc.result() {
            DmarcResult::Pass => AuthResult::Pass,
            DmarcResult::Fail(_) => AuthResult::Fail,
            DmarcResult::TempError(_) => AuthResult::TempError,
            DmarcResult::PermError(_) => AuthResult::PermError,
            DmarcResult::None => AuthResult::None,
        };
        // A fail computed while an aligned DKIM key or an aligned SPF could
        // not be looked up is not a fail: it is unknown. (Unaligned ones,
        // which a sender can make slow at will, cannot change DMARC.)
        let aligned_unknown = (results.spf.result == AuthResult::TempError
            && aligned(&results.spf.domain))
            || aligned_dkim_unknown;
        if result == AuthResult::Fail && aligned_unknown {
            result = AuthResult::TempError;
        }
        if result == AuthResult::TempError {
            temp.push(format!("dmarc ({domain})"));
        }
        results.dmarc = DmarcCheck {
            result,
            domain,
            policy,
            spf_aligned,
            dkim_aligned,
        };
        results.temp_failures = temp;
        results
    }
}

/// DKIM signatures verified per message; more are ignored (each costs a
/// key lookup, and a sender chooses how many to add).
pub const MAX_DKIM_SIGNATURES: usize = 8;

/// The whole-message deadline: at least one query's full attempts.
fn deadline(cfg: &DnsConfig) -> Duration {
    cfg.message_deadline
        .max(cfg.timeout * cfg.attempts.max(1) as u32)
}

/// ARC chain validation, with the RFC 8617 rules mail-auth 0.13 leaves
/// out: a broken set structure is a failed chain (not "no chain"), ARC
/// signs with SHA-256 only, and the AMS must not sign ARC-Seal headers.
fn arc_check(msg: &AuthenticatedMessage<'_>, out: &mail_auth::ArcOutput<'_>) -> ArcCheck {
    let (mut result, mut reason) = dkim_result(out.result());
    let sets = out.sets();
    let has_arc_headers =
        !msg.as_headers.is_empty() || !msg.ams_headers.is_empty() || !msg.aar_headers.is_empty();
    if sets.is_empty() && !has_arc_headers && !msg.has_arc_errors {
        result = AuthResult::None;
    } else if result == AuthResult::None || (sets.is_empty() && result == AuthResult::Pass) {
        result = AuthResult::PermError;
        reason = Some("incomplete or malformed ARC set".into());
    } else if result == AuthResult::Neutral {
        // mail-auth says "neutral" for some malformed sets; a chain that
        // does not validate has failed (RFC 8617 cv=fail).
        result = AuthResult::Fail;
    }
    if result == AuthResult::Pass {
        let sha1 = sets.iter().any(|s| {
            s.signature.header.a == Algorithm::RsaSha1 || s.seal.header.a == Algorithm::RsaSha1
        });
        let signs_seal = sets.iter().any(|s| {
            s.signature
                .header
                .h
                .iter()
                .any(|h| h.eq_ignore_ascii_case("arc-seal"))
        });
        if sha1 {
            result = AuthResult::Fail;
            reason = Some("ARC requires rsa-sha256 or ed25519-sha256, not rsa-sha1".into());
        } else if signs_seal {
            result = AuthResult::Fail;
            reason = Some("ARC-Message-Signature signs an ARC-Seal header".into());
        }
    }
    ArcCheck {
        result,
        sets: sets.len() as u32,
        sealer: sets.last().map(|s| s.seal.header.d.to_ascii_lowercase()),
        sealers: sets
            .iter()
            .map(|s| s.seal.header.d.to_ascii_lowercase())
            .collect(),
        first_results: sets
            .first()
            .map(|s| String::from_utf8_lossy(s.results.value).trim().to_string()),
        reason,
    }
}

fn spf_result(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dkim_result(r: &DkimResult) -> (AuthResult, Option<String>) {
    match r {
        DkimResult::Pass => (AuthResult::Pass, None),
        DkimResult::Neutral(e) => (AuthResult::Neutral, Some(e.to_string())),
        DkimResult::Fail(e) => (AuthResult::Fail, Some(e.to_string())),
        DkimResult::PermError(e) => (AuthResult::PermError, Some(e.to_string())),
        DkimResult::TempError(e) => (AuthResult::TempError, Some(e.to_string())),
        DkimResult::None => (AuthResult::None, None),
    }
}

impl Authenticator {
    /// The SPF identity to check: MAIL FROM, or HELO for the null sender
    /// (`None` when there is neither), and its RFC 8601 name.
    fn spf_parameters<'x>(
        &'x self,
        ip: IpAddr,
        helo: &'x str,
        mail_from: &'x str,
    ) -> Option<(SpfParameters<'x>, &'static str)> {
        if !mail_from.is_empty() {
            Some((
                SpfParameters::verify_mail_from(ip, helo, &self.host_domain, mail_from),
                "mailfrom",
            ))
        } else if !helo.is_empty() {
            Some((
                SpfParameters::verify_ehlo(ip, helo, &self.host_domain),
                "helo",
            ))
        } else {
            None
        }
    }
}

/// Runs the SPF check alone for one identity, as the RFC 7208 test suite
/// does: `mail_from` empty checks the HELO identity.
pub async fn check_spf(
    auth: &Authenticator,
    ip: IpAddr,
    helo: &str,
    mail_from: &str,
) -> AuthResult {
    let Some((spf, _)) = auth.spf_parameters(ip, helo, mail_from) else {
        return AuthResult::None;
    };
    let lookups = Lookups::default();
    let views = auth.caches.views(&lookups);
    let params = views.parameters(spf, &views.txt_spf);
    spf_result(auth.resolver.verify_spf(params).await.result())
}

/// An [`Authenticator`] with its own small runtime, for synchronous edges
/// (`mailsift check`, `mailsift replay`): callable from any non-async
/// thread, several at once.
pub struct BlockingAuthenticator {
    runtime: tokio::runtime::Runtime,
    inner: Authenticator,
    record: bool,
}

impl BlockingAuthenticator {
    /// Answers only from a recorded zone.
    pub fn recorded(zone: Zone, cfg: &DnsConfig, host_domain: &str) -> Result<Self, AuthError> {
        let runtime = small_runtime()?;
        let inner = runtime.block_on(Authenticator::recorded(zone, cfg, host_domain))?;
        Ok(BlockingAuthenticator {
            runtime,
            inner,
            record: false,
        })
    }

    /// Live DNS; with `record`, every call also returns the answers used.
    pub fn live(cfg: &DnsConfig, host_domain: &str, record: bool) -> Result<Self, AuthError> {
        let runtime = small_runtime()?;
        let inner = {
            let _guard = runtime.enter();
            Authenticator::live(cfg, host_domain)?
        };
        Ok(BlockingAuthenticator {
            runtime,
            inner,
            record,
        })
    }

    /// Authenticates one message; the zone is the DNS it used, when
    /// recording.
    pub fn authenticate(&self, subject: &AuthSubject<'_>) -> (AuthResults, Option<Zone>) {
        self.runtime
            .block_on(self.inner.authenticate_recording(subject, self.record))
    }
}

fn small_runtime() -> Result<tokio::runtime::Runtime, AuthError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("mailsift-dns")
        .enable_all()
        .build()
        .map_err(AuthError::Runtime)
}
