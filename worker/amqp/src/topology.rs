//! The broker topology the worker needs, declared idempotently at start and
//! exported as a RabbitMQ definitions file for operators. One description
//! ([`Topology::plan`]) feeds both, so they cannot drift apart.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, ExchangeKind};
use serde_json::json;

/// Names and limits of every queue and exchange (all configurable).
#[derive(Clone, Debug)]
pub struct Topology {
    /// Input quorum queue the edges publish to.
    pub input_queue: String,
    /// Topic exchange for messages to deliver (`deliver.<region>`).
    pub deliver_exchange: String,
    /// Topic exchange for quarantined messages (`quarantine.<region>`).
    pub quarantine_exchange: String,
    /// Topic exchange for journal-mode verdicts (`verdict.<region>`).
    pub verdicts_exchange: String,
    /// Fanout exchange receiving inputs past the delivery limit.
    pub dead_letter_exchange: String,
    /// Queue behind the dead-letter exchange.
    pub dead_letter_queue: String,
    /// Quarantined messages land in `<prefix><region>`, bound to
    /// `quarantine.<region>`, so a region's console stores only its
    /// region's mail (data residency), as delivery does.
    pub quarantine_queue_prefix: String,
    /// Queue for verdicts.
    pub verdicts_queue: String,
    /// Delivery queues are `<prefix><region>`, bound to `deliver.<region>`,
    /// so EU mail can be consumed by EU delivery only.
    pub deliver_queue_prefix: String,
    /// Queue holding inputs whose authentication hit a DNS failure under
    /// `dns_failure = "requeue"`; after `retry_delay_ms` the broker moves
    /// them back to the input queue.
    pub retry_queue: String,
    /// How long a requeued input waits (the policy's
    /// `gateway.requeue_delay_seconds`).
    pub retry_delay_ms: u64,
    /// Delivery's retry queues are `<prefix><region>`: a message the next
    /// hop deferred waits there `deliver_retry_delay_ms`, then goes back to
    /// its region's delivery queue (delivery repeats the wait until its
    /// backoff is over).
    pub deliver_delay_prefix: String,
    /// The wait of one pass through a delivery retry queue.
    pub deliver_retry_delay_ms: u64,
    /// Deliveries of one input before it is dead-lettered.
    pub delivery_limit: u32,
    /// Regions from the policy file.
    pub regions: Vec<String>,
}

impl Topology {
    /// Default names, with the given regions.
    pub fn with_regions(regions: Vec<String>) -> Topology {
        Topology {
            input_queue: "mailsift.in".into(),
            deliver_exchange: "mailsift.deliver".into(),
            quarantine_exchange: "mailsift.quarantine".into(),
            verdicts_exchange: "mailsift.verdicts".into(),
            dead_letter_exchange: "mailsift.dead-letter".into(),
            dead_letter_queue: "mailsift.dead".into(),
            quarantine_queue_prefix: "mailsift.quarantine.".into(),
            verdicts_queue: "mailsift.verdicts".into(),
            deliver_queue_prefix: "mailsift.deliver.".into(),
            retry_queue: "mailsift.retry".into(),
            retry_delay_ms: 60_000,
            deliver_delay_prefix: "mailsift.deliver.delay.".into(),
            deliver_retry_delay_ms: 60_000,
            delivery_limit: 5,
            regions,
        }
    }

    /// Every name prefixed (tests and benchmarks use their own namespace).
    pub fn prefixed(mut self, prefix: &str) -> Topology {
        for name in [
            &mut self.input_queue,
            &mut self.deliver_exchange,
            &mut self.quarantine_exchange,
            &mut self.verdicts_exchange,
            &mut self.dead_letter_exchange,
            &mut self.dead_letter_queue,
            &mut self.quarantine_queue_prefix,
            &mut self.verdicts_queue,
            &mut self.deliver_queue_prefix,
            &mut self.retry_queue,
            &mut self.deliver_delay_prefix,
        ] {
            *name = format!("{prefix}{name}");
        }
        self
    }

    /// The queue a region's deliveries land in.
    pub fn deliver_queue(&self, region: &str) -> String {
        format!("{}{region}", self.deliver_queue_prefix)
    }

    /// The queue a region's quarantined messages land in.
    pub fn quarantine_queue(&self, region: &str) -> String {
        format!("{}{region}", self.quarantine_queue_prefix)
    }

    /// The queue where a region's deferred deliveries wait.
    pub fn deliver_delay_queue(&self, region: &str) -> String {
        format!("{}{region}", self.deliver_delay_prefix)
    }

    /// Every queue an output can land in: the regions' delivery queues,
    /// quarantine and verdicts.
    pub fn output_queues(&self) -> Vec<String> {
        let mut q: Vec<String> = self.regions.iter().map(|r| self.deliver_queue(r)).collect();
        q.extend(self.regions.iter().map(|r| self.quarantine_queue(r)));
        q.push(self.verdicts_queue.clone());
        q
    }

    /// What to declare, in order.
    pub fn plan(&self) -> Plan {
        let mut queues = vec![
            QueueSpec {
                name: self.input_queue.clone(),
                dead_letter_exchange: Some(self.dead_letter_exchange.clone()),
                delivery_limit: Some(self.delivery_limit),
                ..QueueSpec::plain(&self.input_queue)
            },
            // Expired retries go back to the input queue through the
            // default exchange.
            QueueSpec {
                dead_letter_exchange: Some(String::new()),
                dead_letter_routing_key: Some(self.input_queue.clone()),
                message_ttl: Some(self.retry_delay_ms),
                ..QueueSpec::plain(&self.retry_queue)
            },
            QueueSpec::plain(&self.verdicts_queue),
            QueueSpec::plain(&self.dead_letter_queue),
        ];
        let mut bindings = vec![
            (
                self.verdicts_exchange.clone(),
                self.verdicts_queue.clone(),
                "verdict.#".to_string(),
            ),
            (
                self.dead_letter_exchange.clone(),
                self.dead_letter_queue.clone(),
                String::new(),
            ),
        ];
        for region in &self.regions {
            let q = self.deliver_queue(region);
            // Deferred deliveries come back to their region's queue.
            let delay = self.deliver_delay_queue(region);
            queues.push(QueueSpec {
                dead_letter_exchange: Some(String::new()),
                dead_letter_routing_key: Some(q.clone()),
                message_ttl: Some(self.deliver_retry_delay_ms),
                ..QueueSpec::plain(&delay)
            });
            queues.push(QueueSpec::plain(&q));
            bindings.push((
                self.deliver_exchange.clone(),
                q,
                format!("deliver.{region}"),
            ));
            let held = self.quarantine_queue(region);
            queues.push(QueueSpec::plain(&held));
            bindings.push((
                self.quarantine_exchange.clone(),
                held,
                format!("quarantine.{region}"),
            ));
        }
        Plan {
            exchanges: vec![
                (self.deliver_exchange.clone(), "topic"),
                (self.quarantine_exchange.clone(), "topic"),
                (self.verdicts_exchange.clone(), "topic"),
                (self.dead_letter_exchange.clone(), "fanout"),
            ],
            queues,
            bindings,
        }
    }

    /// Declares everything; safe to repeat (same arguments every time).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let plan = self.plan();
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        for (name, kind) in &plan.exchanges {
            let kind = if *kind == "fanout" {
                ExchangeKind::Fanout
            } else {
                ExchangeKind::Topic
            };
            channel
                .exchange_declare(name.as_str().into(), kind, durable, FieldTable::default())
                .await?;
        }
        for q in &plan.queues {
            channel
                .queue_declare(
                    q.name.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    q.arguments(),
                )
                .await?;
        }
        for (exchange, queue, key) in &plan.bindings {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// The same topology as a RabbitMQ definitions document (import with
    /// `rabbitmqctl import_definitions` or the management UI).
    pub fn definitions(&self, vhost: &str) -> serde_json::Value {
        let plan = self.plan();
        json!({
            "exchanges": plan.exchanges.iter().map(|(name, kind)| json!({
                "name": name, "vhost": vhost, "type": kind, "durable": true,
                "auto_delete": false, "internal": false, "arguments": {}
            })).collect::<Vec<_>>(),
            "queues": plan.queues.iter().map(|q| {
                let mut args = json!({"x-queue-type": "quorum"});
                if let Some(dlx) = &q.dead_letter_exchange {
                    args["x-dead-letter-exchange"] = json!(dlx);
                }
                if let Some(limit) = q.delivery_limit {
                    args["x-delivery-limit"] = json!(limit);
                }
                if let Some(key) = &q.dead_letter_routing_key {
                    args["x-dead-letter-routing-key"] = json!(key);
                }
                if let Some(ttl) = q.message_ttl {
                    args["x-message-ttl"] = json!(ttl);
                }
                if q.dead_letter_exchange.is_some() {
                    for (k, v) in AT_LEAST_ONCE {
                        args[k] = json!(v);
                    }
                }
                json!({"name": q.name, "vhost": vhost, "durable": true, "auto_delete": false, "arguments": args})
            }).collect::<Vec<_>>(),
            "bindings": plan.bindings.iter().map(|(e, q, k)| json!({
                "source": e, "vhost": vhost, "destination": q, "destination_type": "queue",
                "routing_key": k, "arguments": {}
            })).collect::<Vec<_>>(),
        })
    }
}

/// Exchanges, queues and bindings to declare.
#[derive(Clone, Debug)]
pub struct Plan {
    /// (name, type).
    pub exchanges: Vec<(String, &'static str)>,
    /// Queues, all durable quorum queues.
    pub queues: Vec<QueueSpec>,
    /// (exchange, queue, routing key).
    pub bindings: Vec<(String, String, String)>,
}

/// One durable quorum queue.
#[derive(Clone, Debug)]
pub struct QueueSpec {
    /// Name.
    pub name: String,
    /// Where rejected/expired/over-limit messages go.
    pub dead_letter_exchange: Option<String>,
    /// Redeliveries before dead-lettering.
    pub delivery_limit: Option<u32>,
    /// Routing key for dead-lettered messages (default: their own).
    pub dead_letter_routing_key: Option<String>,
    /// Milliseconds a message may wait before it is dead-lettered.
    pub message_ttl: Option<u64>,
}

/// Dead-lettering that keeps a message until the target queue confirmed it
/// (quorum queues; needs `x-overflow: reject-publish`): an input acked
/// into the retry queue, or dead-lettered after its delivery limit, must
/// not be lost on the way.
const AT_LEAST_ONCE: [(&str, &str); 2] = [
    ("x-dead-letter-strategy", "at-least-once"),
    ("x-overflow", "reject-publish"),
];

impl QueueSpec {
    fn plain(name: &str) -> QueueSpec {
        QueueSpec {
            name: name.to_string(),
            dead_letter_exchange: None,
            delivery_limit: None,
            dead_letter_routing_key: None,
            message_ttl: None,
        }
    }

    fn arguments(&self) -> FieldTable {
        let mut t = FieldTable::default();
        t.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(LongString::from("quorum")),
        );
        if let Some(dlx) = &self.dead_letter_exchange {
            t.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(LongString::from(dlx.as_str())),
            );
        }
        if let Some(limit) = self.delivery_limit {
            t.insert("x-delivery-limit".into(), AMQPValue::LongInt(limit as i32));
        }
        if let Some(key) = &self.dead_letter_routing_key {
            t.insert(
                "x-dead-letter-routing-key".into(),
                AMQPValue::LongString(LongString::from(key.as_str())),
            );
        }
        if let Some(ttl) = self.message_ttl {
            t.insert(
                "x-message-ttl".into(),
                AMQPValue::LongLongInt(ttl.min(i64::MAX as u64) as i64),
            );
        }
        if self.dead_letter_exchange.is_some() {
            for (k, v) in AT_LEAST_ONCE {
                t.insert(k.into(), AMQPValue::LongString(LongString::from(v)));
            }
        }
        t
    }
}
