//! Every metric family, registered once under the `mailsift_` prefix.
//! Label values come from bounded sets only (dispositions, routes, the
//! policy's own domains, check names, reasons), never from message content.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// Labels of `mailsift_messages_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MessageLabels {
    /// One of the six words.
    pub disposition: &'static str,
    /// `deliver`, `quarantine`, `detect-only`, `requeue`.
    pub route: &'static str,
    /// A domain of the policy, or `default`.
    pub domain: String,
}

/// A label naming a check, a DNS record type or a reason.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Name {
    /// The name.
    pub name: &'static str,
}

/// A label with a result (`ok` or `error`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// The result.
    pub result: &'static str,
}

/// A label carrying the rules version.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Version {
    /// Short content hash of the rule files.
    pub version: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn seconds(start: f64) -> Histogram {
    Histogram::new(exponential_buckets(start, 2.0, 18))
}

fn check_seconds() -> Histogram {
    seconds(1e-6)
}

/// The metric families (see README, "Operations", for what to watch).
pub struct Metrics {
    /// `mailsift_messages_total{disposition,route,domain}`: verdicts.
    pub messages: Family<MessageLabels, Counter>,
    /// `mailsift_classification_seconds`: parse to verdict, per message.
    pub classification_seconds: Histogram,
    /// `mailsift_check_seconds{name}`: each check, per message.
    pub check_seconds: Histograms<Name>,
    /// `mailsift_end_to_end_seconds`: edge publish to output confirmed.
    pub end_to_end_seconds: Histogram,
    /// `mailsift_in_flight`: inputs being processed.
    pub in_flight: Gauge,
    /// `mailsift_publish_confirms_total`: outputs the broker confirmed.
    pub publish_confirms: Counter,
    /// `mailsift_publish_failures_total{name}`: outputs nacked or returned.
    pub publish_failures: Family<Name, Counter>,
    /// `mailsift_redeliveries_total`: inputs the broker delivered again.
    pub redeliveries: Counter,
    /// `mailsift_requeued_total`: inputs given back to the queue.
    pub requeued: Counter,
    /// `mailsift_dead_lettered_total`: inputs given back on their last
    /// allowed delivery (the broker dead-letters them).
    pub dead_lettered: Counter,
    /// `mailsift_requeued_for_dns_total`: inputs sent to the retry queue
    /// after a DNS failure in authentication.
    pub requeued_for_dns: Counter,
    /// `mailsift_dns_lookups_total{name}`: DNS queries, by record type.
    pub dns_lookups: Family<Name, Counter>,
    /// `mailsift_dns_cache_hits_total{name}`: answers from the caches.
    pub dns_cache_hits: Family<Name, Counter>,
    /// `mailsift_dns_failures_total{name}`: timeouts and other temporary
    /// failures, by protocol.
    pub dns_failures: Family<Name, Counter>,
    /// `mailsift_broker_connected`: 1 while connected.
    pub broker_connected: Gauge,
    /// `mailsift_rules_info{version}`: 1 for the rules in use.
    pub rules_info: Family<Version, Gauge>,
    /// `mailsift_rules_reloads_total{result}`: reload attempts.
    pub rules_reloads: Family<Outcome, Counter>,
    /// `mailsift_rules_last_reload_timestamp_seconds`.
    pub rules_last_reload: Gauge,
    /// `mailsift_rules_last_reload_success`: 1 if the last reload worked.
    pub rules_last_reload_success: Gauge,
    /// `mailsift_smtp_sessions`: SMTP sessions open at the edge.
    pub smtp_sessions: Gauge,
    /// `mailsift_smtp_connections_total{name=accepted|refused}`.
    pub smtp_connections: Family<Name, Counter>,
    /// `mailsift_smtp_messages_total{name=queued|tempfail|refused}`: end of
    /// data at the edge.
    pub smtp_messages: Family<Name, Counter>,
    /// `mailsift_smtp_refusals_total{name}`: refusals by reason.
    pub smtp_refusals: Family<Name, Counter>,
    /// `mailsift_smtp_queue_seconds`: end of data to the broker's confirm.
    pub smtp_queue_seconds: Histogram,
    /// `mailsift_deliveries_total{name}`: recipients delivered, deferred,
    /// bounced, dead-lettered; messages skipped as duplicates.
    pub deliveries: Family<Name, Counter>,
    /// `mailsift_delivery_seconds`: one SMTP transaction to the next hop.
    pub delivery_seconds: Histogram,
    /// `mailsift_quarantine_total{name}`: the quarantine console's events
    /// (stored, duplicate, store_failed, released, deleted, downloaded,
    /// purged).
    pub quarantine: Family<Name, Counter>,
}

impl Metrics {
    /// Creates and registers every family.
    pub(crate) fn register(r: &mut Registry) -> Metrics {
        let m = Metrics {
            messages: Family::default(),
            classification_seconds: seconds(1e-5),
            check_seconds: Family::new_with_constructor(check_seconds),
            end_to_end_seconds: seconds(1e-3),
            in_flight: Gauge::default(),
            publish_confirms: Counter::default(),
            publish_failures: Family::default(),
            redeliveries: Counter::default(),
            requeued: Counter::default(),
            dead_lettered: Counter::default(),
            requeued_for_dns: Counter::default(),
            dns_lookups: Family::default(),
            dns_cache_hits: Family::default(),
            dns_failures: Family::default(),
            broker_connected: Gauge::default(),
            rules_info: Family::default(),
            rules_reloads: Family::default(),
            rules_last_reload: Gauge::default(),
            rules_last_reload_success: Gauge::default(),
            smtp_sessions: Gauge::default(),
            smtp_connections: Family::default(),
            smtp_messages: Family::default(),
            smtp_refusals: Family::default(),
            smtp_queue_seconds: seconds(1e-4),
            deliveries: Family::default(),
            delivery_seconds: seconds(1e-3),
            quarantine: Family::default(),
        };
        r.register(
            "quarantine",
            "Quarantine console: messages stored, duplicates, releases, deletions, downloads, purges",
            m.quarantine.clone(),
        );
        r.register(
            "messages",
            "Messages classified, by disposition, route and policy domain",
            m.messages.clone(),
        );
        r.register_with_unit(
            "classification",
            "Classification time per message",
            Unit::Seconds,
            m.classification_seconds.clone(),
        );
        r.register_with_unit(
            "check",
            "Time of each check per message",
            Unit::Seconds,
            m.check_seconds.clone(),
        );
        r.register_with_unit(
            "end_to_end",
            "From the edge's publish to the output confirmed",
            Unit::Seconds,
            m.end_to_end_seconds.clone(),
        );
        r.register("in_flight", "Inputs being processed", m.in_flight.clone());
        r.register(
            "publish_confirms",
            "Outputs confirmed by the broker",
            m.publish_confirms.clone(),
        );
        r.register(
            "publish_failures",
            "Outputs the broker refused (nack) or returned (unroutable)",
            m.publish_failures.clone(),
        );
        r.register(
            "redeliveries",
            "Inputs delivered again by the broker",
            m.redeliveries.clone(),
        );
        r.register(
            "requeued",
            "Inputs given back to their queue",
            m.requeued.clone(),
        );
        r.register(
            "dead_lettered",
            "Inputs given back on their last allowed delivery: dead-lettered",
            m.dead_lettered.clone(),
        );
        r.register(
            "requeued_for_dns",
            "Inputs sent to the retry queue after a DNS failure",
            m.requeued_for_dns.clone(),
        );
        r.register(
            "dns_lookups",
            "DNS queries sent, by record type",
            m.dns_lookups.clone(),
        );
        r.register(
            "dns_cache_hits",
            "DNS answers served from the caches, by record type",
            m.dns_cache_hits.clone(),
        );
        r.register(
            "dns_failures",
            "DNS timeouts and temporary failures, by protocol",
            m.dns_failures.clone(),
        );
        r.register(
            "broker_connected",
            "1 while connected to the broker",
            m.broker_connected.clone(),
        );
        r.register(
            "rules_info",
            "The rules version in use",
            m.rules_info.clone(),
        );
        r.register(
            "rules_reloads",
            "Rules reload attempts, by result",
            m.rules_reloads.clone(),
        );
        r.register_with_unit(
            "rules_last_reload_timestamp",
            "When rules were last (re)loaded or refused",
            Unit::Seconds,
            m.rules_last_reload.clone(),
        );
        r.register(
            "rules_last_reload_success",
            "1 if the last rules (re)load worked",
            m.rules_last_reload_success.clone(),
        );
        r.register(
            "smtp_sessions",
            "SMTP sessions open at the edge",
            m.smtp_sessions.clone(),
        );
        r.register(
            "smtp_connections",
            "SMTP connections accepted or refused at connect",
            m.smtp_connections.clone(),
        );
        r.register(
            "smtp_messages",
            "Messages at the edge's end of data: queued, tempfail (451), refused",
            m.smtp_messages.clone(),
        );
        r.register(
            "smtp_refusals",
            "SMTP refusals by reason",
            m.smtp_refusals.clone(),
        );
        r.register_with_unit(
            "smtp_queue",
            "End of data to the broker's confirm",
            Unit::Seconds,
            m.smtp_queue_seconds.clone(),
        );
        r.register("deliveries", "Delivery outcomes: recipients delivered, deferred, bounced, dead-lettered; duplicates skipped", m.deliveries.clone());
        r.register_with_unit(
            "delivery",
            "One SMTP transaction to the next hop",
            Unit::Seconds,
            m.delivery_seconds.clone(),
        );
        m
    }
}
