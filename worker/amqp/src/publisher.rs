//! Publishing with publisher confirms: the one way every edge puts a
//! message on the broker. A message counts as published only when the
//! broker confirmed it and did not return it as unroutable.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Channel, Connection, PublisherConfirm};

/// A message to publish.
#[derive(Clone, Debug)]
pub struct Output {
    /// Exchange (`""` is the default exchange: the routing key names a queue).
    pub exchange: String,
    /// Routing key.
    pub routing_key: String,
    /// Body.
    pub body: Vec<u8>,
    /// Properties and headers.
    pub properties: BasicProperties,
}

/// Why a message is not on the broker.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker refused it (a nack: a full disk, a queue over its limit).
    #[error("the broker refused the message (nack)")]
    Nacked,
    /// No queue is bound for it: the broker returned it.
    #[error(
        "no queue is bound for exchange `{exchange}` key `{routing_key}`: the message was returned"
    )]
    Returned {
        /// The exchange published to.
        exchange: String,
        /// The routing key used.
        routing_key: String,
    },
    /// The channel or connection failed.
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
}

impl PublishError {
    /// A short name for metrics: `nack`, `returned` or `broker`.
    pub fn reason(&self) -> &'static str {
        match self {
            PublishError::Nacked => "nack",
            PublishError::Returned { .. } => "returned",
            PublishError::Broker(_) => "broker",
        }
    }
}

/// A channel in confirm mode. Cheap to clone; clones share the channel.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

/// A published message whose confirm has not arrived yet.
pub struct Pending {
    confirm: PublisherConfirm,
    exchange: String,
    routing_key: String,
}

impl Publisher {
    /// Opens a channel on `conn` and puts it in confirm mode.
    pub async fn open(conn: &Connection) -> lapin::Result<Publisher> {
        let channel = conn.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher { channel })
    }

    /// The channel (to declare the topology on it).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes one message, `mandatory` so an unroutable message comes
    /// back instead of vanishing. Await [`Pending::confirmed`] before
    /// acknowledging anything that depends on it.
    pub async fn send(&self, out: &Output) -> lapin::Result<Pending> {
        let confirm = self
            .channel
            .basic_publish(
                out.exchange.as_str().into(),
                out.routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                &out.body,
                out.properties.clone(),
            )
            .await?;
        Ok(Pending {
            confirm,
            exchange: out.exchange.clone(),
            routing_key: out.routing_key.clone(),
        })
    }

    /// Publishes every output, then awaits all their confirms: `Ok` only
    /// when every one is on the broker.
    pub async fn send_all(&self, outputs: &[Output]) -> Result<(), PublishError> {
        let mut pending = Vec::with_capacity(outputs.len());
        for out in outputs {
            pending.push(self.send(out).await?);
        }
        let mut result = Ok(());
        for p in pending {
            if let Err(e) = p.confirmed().await {
                if matches!(e, PublishError::Broker(_)) {
                    return Err(e);
                }
                result = Err(e);
            }
        }
        result
    }

    /// Closes the channel.
    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
    }
}

impl Pending {
    /// Waits for the broker's confirm.
    pub async fn confirmed(self) -> Result<(), PublishError> {
        let confirmation = self.confirm.await?;
        if !confirmation.is_ack() {
            return Err(PublishError::Nacked);
        }
        // An unroutable mandatory message is returned, then acked.
        if confirmation.take_message().is_some() {
            return Err(PublishError::Returned {
                exchange: self.exchange,
                routing_key: self.routing_key,
            });
        }
        Ok(())
    }
}
