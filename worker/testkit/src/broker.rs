//! The broker in tests: a throwaway virtual host per test, publishing
//! inputs and draining outputs by id.

use futures_util::StreamExt;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use mailsift_amqp::{contract, Topology};
use mailsift_core::Envelope;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A throwaway RabbitMQ virtual host on the local broker, deleted on drop,
/// so tests never see each other's messages. Fails loudly when no broker is
/// reachable (the test command starts one; it never skips silently).
pub struct Vhost {
    /// Its name.
    pub name: String,
}

impl Vhost {
    /// Creates `mailsift-test-<pid>-<name>` with full permissions for guest.
    pub fn new(name: &str) -> Vhost {
        assert!(
            std::net::TcpStream::connect("127.0.0.1:5672").is_ok(),
            "no RabbitMQ on 127.0.0.1:5672: run the tests with scripts/test.sh, which starts it"
        );
        let name = format!("mailsift-test-{}-{name}", std::process::id());
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        Vhost { name }
    }

    /// The AMQP URL of this vhost.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.name)
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        // Deleting the vhost also deletes its quorum queues, sidestepping the
        // RabbitMQ 3.10 race when deleting a busy quorum queue directly.
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// Runs rabbitmqctl and panics with its output on failure.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl must be installed");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rabbitmqctl {args:?} failed: {text}");
    text
}

/// One output message as a consumer sees it.
#[derive(Clone, Debug)]
pub struct Output {
    /// Queue it was read from.
    pub queue: String,
    /// Body.
    pub body: Vec<u8>,
    /// Headers.
    pub headers: FieldTable,
}

impl Output {
    /// A text header.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.headers.inner().get(name)? {
            AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
            AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
            _ => None,
        }
    }

    /// The stable id.
    pub fn id(&self) -> String {
        self.text(contract::ID)
            .expect("x-mailsift-id on every output")
    }
}

/// `n` inputs cycling through the project corpus, each with its own edge
/// queue id `<prefix><i>` (how the tests count what came out).
pub fn numbered_inputs(prefix: &str, n: usize) -> Vec<(Vec<u8>, Envelope)> {
    let bodies: Vec<Vec<u8>> = super::corpus_messages()
        .into_iter()
        .map(|(_, _, b)| b)
        .collect();
    (0..n)
        .map(|i| {
            let env = Envelope {
                queue_id: Some(format!("{prefix}{i}")),
                ..Envelope::default()
            };
            (bodies[i % bodies.len()].clone(), env)
        })
        .collect()
}

/// The topology the tests use: default names, the shipped policy's regions.
pub fn topology() -> Topology {
    Topology::with_regions(vec!["eu".into(), "us".into()])
}

/// Declares the topology, then publishes messages with their envelopes to
/// the input queue, with confirms.
pub async fn publish(url: &str, t: &Topology, messages: &[(Vec<u8>, Envelope)]) {
    publish_inner(url, t, messages, true).await
}

/// Publishes without declaring anything first.
pub async fn publish_only(url: &str, t: &Topology, messages: &[(Vec<u8>, Envelope)]) {
    publish_inner(url, t, messages, false).await
}

async fn publish_inner(url: &str, t: &Topology, messages: &[(Vec<u8>, Envelope)], declare: bool) {
    let items: Vec<(Vec<u8>, BasicProperties)> = messages
        .iter()
        .map(|(body, env)| {
            let mut headers = FieldTable::default();
            contract::envelope_to_headers(env, &mut headers);
            let props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_headers(headers);
            (body.clone(), props)
        })
        .collect();
    publish_to(url, t, declare, "", &t.input_queue, &items).await
}

/// Publishes `(body, properties)` pairs to `exchange` with `routing_key`,
/// with confirms (every one must be acked), declaring the topology first
/// when `declare`.
pub async fn publish_to(
    url: &str,
    t: &Topology,
    declare: bool,
    exchange: &str,
    routing_key: &str,
    items: &[(Vec<u8>, BasicProperties)],
) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    if declare {
        t.declare(&ch).await.expect("declare");
    }
    let mut pending = Vec::new();
    for (body, props) in items {
        pending.push(
            ch.basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                props.clone(),
            )
            .await
            .expect("publish"),
        );
        if pending.len() >= 500 {
            for c in pending.drain(..) {
                assert!(c.await.expect("confirm").is_ack());
            }
        }
    }
    for c in pending {
        assert!(c.await.expect("confirm").is_ack());
    }
    let _ = conn.close(200, "ok".into()).await;
}

/// Reads outputs (acking them) until `distinct` different ids were seen or
/// `timeout` passes; survives broker restarts by reconnecting. Returns every
/// output read, duplicates included.
pub async fn collect(url: &str, t: &Topology, distinct: usize, timeout: Duration) -> Vec<Output> {
    let deadline = Instant::now() + timeout;
    let mut all = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    while ids.len() < distinct && Instant::now() < deadline {
        let Ok(conn) = Connection::connect(url, ConnectionProperties::default()).await else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        let Ok(ch) = conn.create_channel().await else {
            continue;
        };
        let _ = ch.basic_qos(500, BasicQosOptions::default()).await;
        let mut streams = Vec::new();
        for q in t.output_queues() {
            match ch
                .basic_consume(
                    q.as_str().into(),
                    format!("test-{q}").as_str().into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
            {
                Ok(c) => streams.push(c.map(move |d| (q.clone(), d))),
                Err(_) => break,
            }
        }
        let mut merged = futures_util::stream::select_all(streams);
        while ids.len() < distinct && Instant::now() < deadline {
            match tokio::time::timeout(Duration::from_millis(500), merged.next()).await {
                Ok(Some((queue, Ok(d)))) => {
                    let out = Output {
                        queue,
                        body: d.data.clone(),
                        headers: d.properties.headers().clone().unwrap_or_default(),
                    };
                    *ids.entry(out.id()).or_default() += 1;
                    all.push(out);
                    let _ = d.ack(BasicAckOptions::default()).await;
                }
                Ok(Some((_, Err(_)))) | Ok(None) => break, // connection lost: reconnect
                Err(_) => {}                               // idle: keep waiting
            }
        }
        let _ = conn.close(200, "ok".into()).await;
    }
    all
}

/// Ready messages in a queue (passive declare).
pub async fn queue_depth(url: &str, queue: &str) -> u32 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue exists");
    let _ = conn.close(200, "ok".into()).await;
    q.message_count()
}

/// How the numbered inputs `<prefix>0..n` came out, by the edge queue id
/// carried through: up to ten with no output, and how many outputs were
/// repeats (at-least-once delivery allows them).
pub struct Accounting {
    /// Inputs without an output (at most ten listed).
    pub missing: Vec<String>,
    /// Outputs beyond one per input.
    pub duplicates: usize,
}

/// Accounts for the numbered inputs `<prefix>0..n` in `outputs`.
pub fn account(outputs: &[Output], prefix: &str, n: usize) -> Accounting {
    let ids: std::collections::HashSet<String> = outputs
        .iter()
        .map(|o| o.text(contract::QUEUE_ID).unwrap_or_default())
        .collect();
    Accounting {
        missing: (0..n)
            .map(|i| format!("{prefix}{i}"))
            .filter(|id| !ids.contains(id))
            .take(10)
            .collect(),
        duplicates: outputs.len() - ids.len(),
    }
}
