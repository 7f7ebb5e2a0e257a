//! Store clients, all built from the standard environment so the same binary talks to moto,
//! LocalStack or AWS by configuration alone.

pub mod aws;
pub mod cursor;
pub mod dynamo;
pub mod redis;

/// Logical DynamoDB tables (full names are `LAIT_TABLE_PREFIX` + name). Their key schemas live in
/// `localstack/init/ready.d/10-lait-resources.py` (local) and `template.yaml` (AWS).
pub const TABLES: &[&str] = &["users", "channels", "chat"];
