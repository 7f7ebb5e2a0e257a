//! Chat end to end through lait-local: real WebSocket clients, real Redis and moto, tickets from
//! chat-api, chat-ws behind the gateway's API Gateway emulation. One binary, one file per
//! feature.

#[path = "../common/mod.rs"]
mod common;
mod harness;

mod fanout;
mod history;
mod joining;
mod moderation;
