//! `kv-jit schema`: the JSON Schema of request files, derived from [`RawRequest`]. The committed
//! copy (`schema/request.schema.json`) is what editors load; a test fails if the two drift.

use kv_jit_core::request::RawRequest;

pub const COMMITTED_PATH: &str = "schema/request.schema.json";

pub fn request_schema() -> String {
    let schema = schemars::schema_for!(RawRequest);
    let mut s = serde_json::to_string_pretty(&schema).expect("a schema always serializes");
    s.push('\n');
    s
}
