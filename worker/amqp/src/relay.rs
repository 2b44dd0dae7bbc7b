//! The bare relay: consume an input, publish it unchanged to the first
//! region's delivery queue with confirms, acknowledge. No classification:
//! `mailsift bench-amqp` measures the broker's ceiling with it.

use crate::contract;
use crate::outputs::properties;
use crate::publisher::{Output, PublishError, Publisher};
use crate::session::{Handler, Settle};
use crate::topology::Topology;
use lapin::message::Delivery;
use std::sync::Arc;

/// Relays every input to `deliver.<first region>` unchanged.
pub struct Relay {
    topology: Arc<Topology>,
}

impl Relay {
    /// A relay over `topology`.
    pub fn new(topology: Arc<Topology>) -> Relay {
        Relay { topology }
    }
}

impl Handler for Relay {
    async fn handle(&self, mut delivery: Delivery, out: &Publisher) -> lapin::Result<Settle> {
        let headers = delivery.properties.headers().clone();
        let body = std::mem::take(&mut delivery.data);
        let id = contract::stable_id(&body, &contract::envelope_from_headers(headers.as_ref()));
        let region = self.topology.regions.first().map_or("us", String::as_str);
        let output = Output {
            exchange: self.topology.deliver_exchange.clone(),
            routing_key: format!("deliver.{region}"),
            properties: properties(headers.unwrap_or_default(), &id, "message/rfc822"),
            body,
        };
        match out.send_all(std::slice::from_ref(&output)).await {
            Ok(()) => Ok(Settle::Ack { outputs: 1 }),
            Err(PublishError::Broker(e)) => Err(e),
            Err(_) => Ok(Settle::Requeue),
        }
    }
}
