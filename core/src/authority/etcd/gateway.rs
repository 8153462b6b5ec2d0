//! etcd's v3 JSON gateway as the etcd provider uses it: HTTP POSTs of JSON
//! bodies to `/v3/...` on one of a cluster's client endpoints, with a blocking
//! client (ureq) so no async runtime enters librtr.
//!
//! The shapes here were checked against etcd 3.4 (Debian's `etcd-server`):
//! int64 fields travel as JSON strings, fields at their default value (0,
//! false, empty) are left out, keys and values are base64, an error is a
//! non-200 answer `{"error", "message", "code"}` (the gRPC code), and
//! `/v3/lease/keepalive` answers one stream message `{"result": ...}` (or
//! `{"error": ...}`) per request message.
//!
//! Every request is bounded by [`REQUEST_TIMEOUT`] in all, whatever the
//! number of endpoints, so a dead or cut-off etcd never blocks a node for
//! long.

use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// The most one request may take, over every endpoint it tries.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
/// The most one endpoint may take to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// gRPC codes after which another endpoint may do better: the member has
/// no leader, is not in the quorum, timed out, or is overloaded.
const TRY_ANOTHER: [i64; 4] =
    [1 /* canceled */, 4 /* deadline */, 8 /* exhausted */, 14 /* unavailable */];
/// The gRPC code etcd answers for a lease that does not exist (any more).
pub const NOT_FOUND: i64 = 5;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayError {
    /// No endpoint answered in time, or every one that did could not serve
    /// (no quorum, no leader): what each said.
    Unreachable(String),
    /// etcd answered with an error that another endpoint would repeat (a
    /// refused request; `NOT_FOUND` for a lease that is gone).
    Refused { code: i64, message: String },
}

/// The client: the endpoints of one etcd cluster, the one that answered last
/// tried first.
pub struct Gateway {
    endpoints: Vec<String>,
    /// Where the next request starts. It moves on past an endpoint that
    /// failed, so a member cut off from its quorum (which does not refuse,
    /// it just does not answer) costs one request, not every one.
    preferred: usize,
    agent: ureq::Agent,
}

impl Gateway {
    /// `endpoints` are `http://host:port` URLs (checked by the caller).
    pub fn new(endpoints: Vec<String>) -> Gateway {
        let config = ureq::Agent::config_builder()
            // etcd's errors are JSON bodies of non-200 answers: read them.
            .http_status_as_error(false)
            // The endpoints are reached directly: a proxy in the environment
            // (there for package downloads) must not see role traffic.
            .proxy(None)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build();
        Gateway { endpoints, preferred: 0, agent: ureq::Agent::new_with_config(config) }
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// POST `body` to `path` (e.g. "/v3/kv/txn") and decode the answer:
    /// the first endpoint that answers (in turn from the preferred one)
    /// decides, within [`REQUEST_TIMEOUT`] in all.
    pub fn call<T: DeserializeOwned>(&mut self, path: &str, body: &Value) -> Result<T, GatewayError> {
        let text = body.to_string();
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        let n = self.endpoints.len();
        let mut failures = Vec::new();
        let first = self.preferred;
        for i in 0..n {
            let at = (first + i) % n;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                failures.push(format!("{}: not tried, out of time", self.endpoints[at]));
                continue;
            }
            match self.post(at, path, &text, left) {
                Ok(Answer::Ok(answer)) => {
                    self.preferred = at;
                    return serde_json::from_str(&answer).map_err(|e| {
                        // The gateway said 200 but not in etcd's shape: not
                        // etcd, or a version that speaks otherwise.
                        GatewayError::Refused { code: -1, message: format!("unexpected answer to {path}: {e}") }
                    });
                }
                Ok(Answer::Error { code, message }) if !TRY_ANOTHER.contains(&code) => {
                    self.preferred = at;
                    return Err(GatewayError::Refused { code, message });
                }
                Ok(Answer::Error { message, .. }) => failures.push(format!("{}: {message}", self.endpoints[at])),
                Err(why) => failures.push(format!("{}: {why}", self.endpoints[at])),
            }
            self.preferred = (at + 1) % n;
        }
        Err(GatewayError::Unreachable(failures.join("; ")))
    }

    /// One POST to endpoint `at` within `left`: its body if 200, etcd's
    /// error if etcd answered one, or why there was no usable answer.
    fn post(&self, at: usize, path: &str, body: &str, left: Duration) -> Result<Answer, String> {
        let url = format!("{}{path}", self.endpoints[at]);
        let mut response = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(left))
            .timeout_connect(Some(left.min(CONNECT_TIMEOUT)))
            .build()
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
        if status == 200 {
            // A stream answer (keepalive) carries its error inside a 200.
            if let Ok(StreamError { error: Some(e) }) = serde_json::from_str::<StreamError>(&text) {
                return Ok(Answer::Error { code: e.code, message: e.message });
            }
            return Ok(Answer::Ok(text));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(e) if !e.message.is_empty() || e.code != 0 => Ok(Answer::Error { code: e.code, message: e.message }),
            _ => Err(format!("HTTP {status} from {url}: {}", text.chars().take(200).collect::<String>())),
        }
    }
}

enum Answer {
    Ok(String),
    Error { code: i64, message: String },
}

/// etcd's error body (and the `error` of a stream message).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    #[serde(deserialize_with = "int64")]
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct StreamError {
    // Only an object: `{"error": "..."}` (a string) is a unary error body.
    #[serde(default)]
    error: Option<ErrorBody>,
}

// ---- request bodies ----

pub fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// Compare: the key's create revision equals `rev` (0: the key is absent).
pub fn create_revision_is(key: &str, rev: i64) -> Value {
    json!({"target": "CREATE", "key": b64(key), "result": "EQUAL", "create_revision": rev.to_string()})
}

/// Compare: the key's last modification revision equals `rev` (0: absent).
pub fn mod_revision_is(key: &str, rev: i64) -> Value {
    json!({"target": "MOD", "key": b64(key), "result": "EQUAL", "mod_revision": rev.to_string()})
}

/// Op: put `value` at `key`, on `lease` if given.
pub fn put(key: &str, value: &str, lease: Option<i64>) -> Value {
    let mut put = json!({"key": b64(key), "value": b64(value)});
    if let Some(lease) = lease {
        put["lease"] = Value::String(lease.to_string());
    }
    json!({ "request_put": put })
}

/// Op: read `key`.
pub fn range(key: &str) -> Value {
    json!({"request_range": {"key": b64(key)}})
}

/// Op: delete `key`.
pub fn delete(key: &str) -> Value {
    json!({"request_delete_range": {"key": b64(key)}})
}

/// A transaction body.
pub fn txn(compare: Vec<Value>, success: Vec<Value>, failure: Vec<Value>) -> Value {
    json!({"compare": compare, "success": success, "failure": failure})
}

// ---- answers ----

/// An int64, which the gateway writes as a string (and accepts as either).
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        S(String),
        N(i64),
    }
    match Int::deserialize(d)? {
        Int::N(n) => Ok(n),
        Int::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// base64 bytes, as text.
fn base64_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    let bytes = B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)?;
    String::from_utf8(bytes).map_err(serde::de::Error::custom)
}

#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct Header {
    #[serde(deserialize_with = "int64")]
    pub revision: i64,
}

/// One key as etcd keeps it.
#[derive(Deserialize, Default, Debug, Clone, PartialEq, Eq)]
#[serde(default)]
pub struct KeyValue {
    #[serde(deserialize_with = "base64_text")]
    pub key: String,
    #[serde(deserialize_with = "int64")]
    pub create_revision: i64,
    #[serde(deserialize_with = "int64")]
    pub mod_revision: i64,
    #[serde(deserialize_with = "base64_text")]
    pub value: String,
    /// 0: on no lease.
    #[serde(deserialize_with = "int64")]
    pub lease: i64,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct RangeResponse {
    pub kvs: Vec<KeyValue>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct ResponseOp {
    pub response_range: Option<RangeResponse>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct TxnResponse {
    pub header: Header,
    pub succeeded: bool,
    pub responses: Vec<ResponseOp>,
}

impl TxnResponse {
    /// The key read by op `i` of the branch taken: `Ok(None)` if absent, an
    /// error if op `i` was not a range (etcd answered another shape).
    pub fn key(&self, i: usize) -> Result<Option<&KeyValue>, String> {
        match self.responses.get(i).and_then(|r| r.response_range.as_ref()) {
            Some(r) => Ok(r.kvs.first()),
            None => Err(format!("etcd's transaction answer has no range result at {i}")),
        }
    }
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct LeaseGrantResponse {
    #[serde(rename = "ID", deserialize_with = "int64")]
    pub id: i64,
    #[serde(rename = "TTL", deserialize_with = "int64")]
    pub ttl: i64,
    /// etcd 3.4 reports some refusals here rather than as an HTTP error.
    pub error: String,
}

#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct LeaseKeepAliveResponse {
    /// The lease's full TTL again; 0 (left out) when the lease is gone.
    #[serde(rename = "TTL", deserialize_with = "int64")]
    pub ttl: i64,
}

/// One message of the keepalive stream.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub struct KeepAliveMessage {
    pub result: Option<LeaseKeepAliveResponse>,
}

/// The answer of requests whose body does not matter (revoke).
#[derive(Deserialize, Default, Debug)]
pub struct Empty {}
