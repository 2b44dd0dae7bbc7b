//! What the worker publishes for an input: one output per recipient policy
//! group, encoded from its verdict.

use crate::contract::{self, Destination};
use crate::publisher::Output;
use crate::topology::Topology;
use lapin::types::FieldTable;
use lapin::BasicProperties;
use mailsift_core::rules::Rules;
use mailsift_core::{stamp, Envelope, Parsed, Verdict};
use std::time::{SystemTime, UNIX_EPOCH};

/// One output to produce for an input: the recipients of one policy group.
#[derive(Clone, Debug)]
pub struct Group {
    /// The input's envelope with only this group's recipients.
    pub envelope: Envelope,
    /// The input's headers with only this group's recipients.
    pub headers: Option<FieldTable>,
    /// The output's stable id (`<id>-<n>` when the input was split).
    pub id: String,
}

/// Splits an input by recipient policy group: a message for contoso.com
/// (us) and fabrikam.com (eu) is judged under each domain's policy and
/// delivered to each region with only that domain's recipients.
pub fn plan(parsed: &Parsed, headers: Option<FieldTable>, rules: &Rules) -> Vec<Group> {
    let envelope = contract::envelope_from_headers(headers.as_ref());
    let id = contract::stable_id(parsed.raw(), &envelope);
    let groups = rules.policy.group_recipients(&envelope.rcpt_to);
    if groups.len() <= 1 {
        return vec![Group {
            envelope,
            headers,
            id,
        }];
    }
    groups
        .iter()
        .enumerate()
        .map(|(n, (_, rcpts))| {
            let mut env = envelope.clone();
            env.rcpt_to = rcpts.iter().map(|r| r.to_string()).collect();
            let mut h = headers.clone().unwrap_or_default();
            contract::envelope_to_headers(&env, &mut h);
            Group {
                envelope: env,
                headers: Some(h),
                id: format!("{id}-{n}"),
            }
        })
        .collect()
}

/// The output for one group's verdict: the stamped message to delivery or
/// quarantine, the verdict (or stamped message) to the verdicts exchange in
/// journal mode, or the unchanged input to the retry queue.
pub fn encode(
    verdict: &Verdict,
    group: &Group,
    parsed: &Parsed,
    rules: &Rules,
    topology: &Topology,
    journal_include_body: bool,
) -> Output {
    let raw = parsed.raw();
    let (dest, routing_key) = contract::destination(verdict);
    let exchange = match dest {
        Destination::Deliver => &topology.deliver_exchange,
        Destination::Quarantine => &topology.quarantine_exchange,
        Destination::Verdicts => &topology.verdicts_exchange,
        Destination::Retry => return retry(group, raw, topology),
    };
    let (body, content_type) = if dest == Destination::Verdicts && !journal_include_body {
        (
            serde_json::to_vec(verdict).unwrap_or_default(),
            "application/json",
        )
    } else {
        (
            stamp::stamp(raw, verdict, &rules.engine.stamp),
            "message/rfc822",
        )
    };
    let headers = contract::output_headers(group.headers.as_ref(), verdict, &group.id);
    Output {
        exchange: exchange.clone(),
        routing_key,
        body,
        properties: properties(headers, &group.id, content_type),
    }
}

/// The unchanged input (this group's recipients only) for the retry queue,
/// from which it comes back to the input queue after the policy's delay.
fn retry(group: &Group, raw: &[u8], topology: &Topology) -> Output {
    let attempt = group.envelope.retries.saturating_add(1);
    Output {
        exchange: String::new(),
        routing_key: topology.retry_queue.clone(),
        body: raw.to_vec(),
        properties: properties(
            contract::with_attempt(group.headers.as_ref(), attempt),
            &group.id,
            "message/rfc822",
        ),
    }
}

/// Persistent, with the stable id as `message_id` and the publish time.
pub fn properties(headers: FieldTable, id: &str, content_type: &str) -> BasicProperties {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(content_type.into())
        .with_message_id(id.into())
        .with_timestamp(now)
        .with_headers(headers)
}
