//! Clients that do what users do, each through its own [`FailoverClient`] and its retry logic,
//! recording every call in the [`Recorder`].
//!
//! Volumes `rv*` and buckets `rb*` are registers: created, read, given new owners and deleted
//! by every client, so clients race on them. Keys get names unique to the client that creates
//! them (`c<client>-<n>`), so every key's whole life is known: created once, read, listed, and
//! perhaps deleted or renamed once (to `c<client>-<n>r`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use om_client::config::{RetryPolicy, ServiceConfig};
use om_client::wire::{ErrorCode, ReadOp, ReadResponse, WriteOp, LIST_MAX};
use om_client::{ClientError, FailoverClient};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::history::*;
use crate::{say, FaultError, Result};

/// How the clients behave.
#[derive(Debug, Clone)]
pub struct TrafficSpec {
    pub clients: usize,
    /// More clients that only read, with [`TrafficSpec::read_deadline`].
    pub readers: usize,
    pub register_volumes: usize,
    pub register_buckets: usize,
    /// A write still unanswered after this long is recorded as unknown and abandoned.
    pub op_deadline: Duration,
    /// A read still unanswered after this long is abandoned (it says nothing) and the client
    /// moves on: clients keep calling while a ring recovers, as real ones do, instead of all
    /// waiting inside the calls they made before the fault.
    pub read_deadline: Duration,
    /// One request to one node.
    pub request_timeout: Duration,
    /// The share of a reader's calls that look at the latest acknowledged register write.
    pub latest_read_share: f64,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            clients: 8,
            readers: 4,
            register_volumes: 16,
            register_buckets: 12,
            op_deadline: Duration::from_secs(10),
            read_deadline: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            latest_read_share: 0.5,
        }
    }
}

/// A client as the traffic uses it.
pub fn client(service: &ServiceConfig, spec: &TrafficSpec) -> Result<FailoverClient> {
    FailoverClient::builder(service.clone())
        .retry_policy(RetryPolicy { max_attempts: 60, wait_between_rounds: Duration::from_millis(100) })
        .request_timeout(spec.request_timeout)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .map_err(|e| FaultError::Setup(e.to_string()))
}

/// Creates the volumes and bucket the traffic works in (before the history starts).
pub async fn prepare(client: &FailoverClient, deadline: Duration) -> Result<()> {
    let ops = [
        WriteOp::create_volume(BUCKET_VOLUME),
        WriteOp::create_volume(KEY_VOLUME),
        WriteOp::create_bucket(KEY_VOLUME, KEY_BUCKET),
    ];
    let until = tokio::time::Instant::now() + deadline;
    for op in ops {
        loop {
            match client.write(op.clone()).await {
                Ok(_) => break,
                Err(ClientError::Api(e))
                    if matches!(e.code, ErrorCode::VolumeAlreadyExists | ErrorCode::BucketAlreadyExists) =>
                {
                    break
                }
                Err(e) if tokio::time::Instant::now() >= until => {
                    return Err(FaultError::Ring(format!(
                        "cannot prepare the traffic's namespace ({}): {e}",
                        op.kind()
                    )))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}

/// What a call came back with, before it is an [`Outcome`].
enum Answer {
    Done,
    Value(String),
    Listed(Vec<(String, String)>),
}

/// The outcome of a failed call: a definite answer when the ring gave one that says what
/// happened, unknown otherwise.
fn failure(e: ClientError) -> Outcome {
    match e {
        ClientError::Api(api) => match api.code {
            ErrorCode::Timeout | ErrorCode::InternalError | ErrorCode::LeaderNotReady | ErrorCode::NotLeader => {
                Outcome::Unknown { reason: api.to_string() }
            }
            code => Outcome::Failed { code: code.as_str().to_string() },
        },
        other => Outcome::Unknown { reason: other.to_string() },
    }
}

fn list_outcome(entries: Vec<(String, String)>) -> Outcome {
    let complete = entries.len() < LIST_MAX as usize;
    Outcome::Listed { entries, complete }
}

/// Runs one call through the failover client.
pub async fn execute(client: &FailoverClient, op: &Op, deadline: Duration) -> Outcome {
    let call = async {
        match op {
            Op::CreateVolume { volume, owner } => client
                .write(WriteOp::CreateVolume {
                    volume: volume.clone(),
                    owner: Some(owner.clone()),
                    quota_in_bytes: None,
                    quota_in_namespace: None,
                    metadata: Default::default(),
                })
                .await
                .map(|_| Answer::Done),
            Op::SetVolumeOwner { volume, owner } => client
                .write(WriteOp::SetVolumeProperty {
                    volume: volume.clone(),
                    owner: Some(owner.clone()),
                    quota_in_bytes: None,
                    quota_in_namespace: None,
                })
                .await
                .map(|_| Answer::Done),
            Op::DeleteVolume { volume } => {
                client.write(WriteOp::DeleteVolume { volume: volume.clone() }).await.map(|_| Answer::Done)
            }
            Op::VolumeInfo { volume } => match client.read(ReadOp::VolumeInfo { volume: volume.clone() }).await {
                Ok(ReadResponse::Volume { volume }) => Ok(Answer::Value(volume.owner)),
                Ok(other) => Err(unexpected(other)),
                Err(e) => Err(e),
            },
            Op::ListVolumes { prefix, start_after } => {
                let req = ReadOp::ListVolumes {
                    prefix: prefix.clone(),
                    start_after: start_after.clone(),
                    max: Some(LIST_MAX),
                    owner: None,
                };
                match client.read(req).await {
                    Ok(ReadResponse::Volumes { volumes }) => {
                        Ok(Answer::Listed(volumes.into_iter().map(|v| (v.name, v.owner)).collect()))
                    }
                    Ok(other) => Err(unexpected(other)),
                    Err(e) => Err(e),
                }
            }
            Op::CreateBucket { bucket, owner } => {
                let mut w = WriteOp::create_bucket(BUCKET_VOLUME, bucket.clone());
                if let WriteOp::CreateBucket { owner: o, .. } = &mut w {
                    *o = Some(owner.clone());
                }
                client.write(w).await.map(|_| Answer::Done)
            }
            Op::DeleteBucket { bucket } => client
                .write(WriteOp::DeleteBucket { volume: BUCKET_VOLUME.into(), bucket: bucket.clone() })
                .await
                .map(|_| Answer::Done),
            Op::BucketInfo { bucket } => {
                match client.read(ReadOp::BucketInfo { volume: BUCKET_VOLUME.into(), bucket: bucket.clone() }).await {
                    Ok(ReadResponse::Bucket { bucket }) => Ok(Answer::Value(bucket.owner)),
                    Ok(other) => Err(unexpected(other)),
                    Err(e) => Err(e),
                }
            }
            Op::ListBuckets { prefix, start_after } => {
                let req = ReadOp::ListBuckets {
                    volume: BUCKET_VOLUME.into(),
                    prefix: prefix.clone(),
                    start_after: start_after.clone(),
                    max: Some(LIST_MAX),
                };
                match client.read(req).await {
                    Ok(ReadResponse::Buckets { buckets }) => {
                        Ok(Answer::Listed(buckets.into_iter().map(|b| (b.name, b.owner)).collect()))
                    }
                    Ok(other) => Err(unexpected(other)),
                    Err(e) => Err(e),
                }
            }
            Op::CreateKey { key, size } => client
                .create_key(KEY_VOLUME, KEY_BUCKET, key, *size, None, Default::default())
                .await
                .map(|_| Answer::Done),
            Op::KeyInfo { key } => {
                let req = ReadOp::KeyInfo { volume: KEY_VOLUME.into(), bucket: KEY_BUCKET.into(), key: key.clone() };
                match client.read(req).await {
                    Ok(ReadResponse::Key { key }) => Ok(Answer::Value(key.size.to_string())),
                    Ok(other) => Err(unexpected(other)),
                    Err(e) => Err(e),
                }
            }
            Op::DeleteKey { key } => client
                .write(WriteOp::DeleteKey { volume: KEY_VOLUME.into(), bucket: KEY_BUCKET.into(), key: key.clone() })
                .await
                .map(|_| Answer::Done),
            Op::RenameKey { key, to, .. } => client
                .write(WriteOp::RenameKey {
                    volume: KEY_VOLUME.into(),
                    bucket: KEY_BUCKET.into(),
                    key: key.clone(),
                    to_key: to.clone(),
                })
                .await
                .map(|_| Answer::Done),
            Op::ListKeys { prefix, start_after } => {
                let req = ReadOp::ListKeys {
                    volume: KEY_VOLUME.into(),
                    bucket: KEY_BUCKET.into(),
                    prefix: prefix.clone(),
                    start_after: start_after.clone(),
                    max: Some(LIST_MAX),
                };
                match client.read(req).await {
                    Ok(ReadResponse::Keys { keys }) => {
                        Ok(Answer::Listed(keys.into_iter().map(|k| (k.name, k.size.to_string())).collect()))
                    }
                    Ok(other) => Err(unexpected(other)),
                    Err(e) => Err(e),
                }
            }
        }
    };
    match tokio::time::timeout(deadline, call).await {
        Err(_) => Outcome::Unknown { reason: format!("no answer within {} ms", deadline.as_millis()) },
        Ok(Ok(Answer::Done)) => Outcome::Ok,
        Ok(Ok(Answer::Value(value))) => Outcome::Found { value },
        Ok(Ok(Answer::Listed(entries))) => list_outcome(entries),
        Ok(Err(e)) => failure(e),
    }
}

fn unexpected(r: ReadResponse) -> ClientError {
    ClientError::Api(om_client::wire::ApiError::new(
        ErrorCode::InvalidRequest,
        format!("answer of the wrong kind: {r:?}"),
    ))
}

/// A client's memory of its own keys.
struct Keys {
    next: u64,
    /// Created (acknowledged or unknown) and neither deleted nor renamed since.
    live: Vec<(String, u64)>,
}

/// Picks the next call of client `id`.
fn next_op(id: usize, spec: &TrafficSpec, rng: &mut StdRng, seq: &mut u64, keys: &mut Keys) -> Op {
    *seq += 1;
    let owner = format!("o{id}x{seq}");
    let volume = format!("{REGISTER_VOLUME_PREFIX}{:02}", rng.random_range(0..spec.register_volumes));
    let bucket = format!("{REGISTER_BUCKET_PREFIX}{:02}", rng.random_range(0..spec.register_buckets));
    // Weights out of 100.
    let roll = rng.random_range(0..100u32);
    match roll {
        0..18 => Op::SetVolumeOwner { volume, owner },
        18..36 => Op::VolumeInfo { volume },
        36..42 => Op::CreateVolume { volume, owner },
        42..45 => Op::DeleteVolume { volume },
        45..47 => Op::ListVolumes { prefix: REGISTER_VOLUME_PREFIX.into(), start_after: String::new() },
        47..51 => Op::CreateBucket { bucket, owner },
        51..57 => Op::BucketInfo { bucket },
        57..60 => Op::DeleteBucket { bucket },
        60..61 => Op::ListBuckets { prefix: REGISTER_BUCKET_PREFIX.into(), start_after: String::new() },
        61..62 => {
            let other = rng.random_range(0..spec.clients);
            Op::ListKeys { prefix: format!("c{other}-"), start_after: String::new() }
        }
        _ if keys.live.is_empty() || roll < 78 => {
            keys.next += 1;
            let key = format!("c{id}-{}", keys.next);
            // Every write of a key has its own size, so a read says which write it saw.
            let size = rng.random_range(1..1u64 << 40);
            keys.live.push((key.clone(), size));
            Op::CreateKey { key, size }
        }
        78..92 => {
            let (key, _) = keys.live[rng.random_range(0..keys.live.len())].clone();
            Op::KeyInfo { key }
        }
        92..96 => {
            let (key, _) = keys.live.swap_remove(rng.random_range(0..keys.live.len()));
            Op::DeleteKey { key }
        }
        _ => {
            let (key, size) = keys.live.swap_remove(rng.random_range(0..keys.live.len()));
            let to = format!("{key}r");
            Op::RenameKey { key, to, size }
        }
    }
}

/// The read that looks at what the latest acknowledged register write changed.
///
/// Readers ask for it [`TrafficSpec::latest_read_share`] of the time: a read right after a write is acknowledged is the one
/// a ring that lost track of its commit index answers wrongly, and the few objects written just
/// before a crash are otherwise rarely the ones read just after it.
#[derive(Default)]
pub struct LatestWrite(std::sync::Mutex<Option<Op>>);

impl LatestWrite {
    fn note(&self, op: &Op, outcome: &Outcome) {
        if *outcome != Outcome::Ok {
            return;
        }
        let read = match op {
            Op::SetVolumeOwner { volume, .. } | Op::CreateVolume { volume, .. } | Op::DeleteVolume { volume } => {
                Op::VolumeInfo { volume: volume.clone() }
            }
            Op::CreateBucket { bucket, .. } | Op::DeleteBucket { bucket } => Op::BucketInfo { bucket: bucket.clone() },
            _ => return,
        };
        if let Ok(mut latest) = self.0.lock() {
            *latest = Some(read);
        }
    }

    fn read(&self) -> Option<Op> {
        self.0.lock().ok().and_then(|latest| latest.clone())
    }
}

/// Picks the next call of a reader.
fn next_read(spec: &TrafficSpec, rng: &mut StdRng, latest: &LatestWrite) -> Op {
    if rng.random_bool(spec.latest_read_share.clamp(0.0, 1.0)) {
        if let Some(op) = latest.read() {
            return op;
        }
    }
    let writer = rng.random_range(0..spec.clients);
    match rng.random_range(0..10u32) {
        0..5 => Op::VolumeInfo {
            volume: format!("{REGISTER_VOLUME_PREFIX}{:02}", rng.random_range(0..spec.register_volumes)),
        },
        5..7 => Op::BucketInfo {
            bucket: format!("{REGISTER_BUCKET_PREFIX}{:02}", rng.random_range(0..spec.register_buckets)),
        },
        7 => Op::ListVolumes { prefix: REGISTER_VOLUME_PREFIX.into(), start_after: String::new() },
        8 => Op::KeyInfo { key: format!("c{writer}-{}", rng.random_range(1..200)) },
        _ => Op::ListKeys { prefix: format!("c{writer}-"), start_after: String::new() },
    }
}

/// Starts the clients; they run until `stop` is set.
pub fn start(
    spec: &TrafficSpec,
    service: &ServiceConfig,
    seed: u64,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut handles = Vec::new();
    let latest = Arc::new(LatestWrite::default());
    for id in 0..spec.clients + spec.readers {
        let latest = Arc::clone(&latest);
        let client = client(service, spec)?;
        let spec = spec.clone();
        let recorder = Arc::clone(&recorder);
        let stop = Arc::clone(&stop);
        let mut rng = StdRng::seed_from_u64(seed ^ (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(id as u64 + 1)));
        handles.push(tokio::spawn(async move {
            let mut seq = 0;
            let mut keys = Keys { next: 0, live: Vec::new() };
            while !stop.load(Ordering::Relaxed) {
                let op = if id < spec.clients {
                    next_op(id, &spec, &mut rng, &mut seq, &mut keys)
                } else {
                    next_read(&spec, &mut rng, &latest)
                };
                let call = recorder.now();
                let deadline = if op.is_read() { spec.read_deadline } else { spec.op_deadline };
                let outcome = execute(&client, &op, deadline).await;
                let ret = match outcome {
                    Outcome::Unknown { .. } => None,
                    _ => Some(recorder.now()),
                };
                if let Outcome::Failed { code } = &outcome {
                    if !matches!(
                        code.as_str(),
                        "VOLUME_ALREADY_EXISTS"
                            | "VOLUME_NOT_FOUND"
                            | "BUCKET_ALREADY_EXISTS"
                            | "BUCKET_NOT_FOUND"
                            | "KEY_NOT_FOUND"
                    ) {
                        say!("client {id}: {op:?} answered {code}");
                    }
                }
                latest.note(&op, &outcome);
                recorder.push(Event { client: id, call, ret, op, outcome });
            }
        }));
    }
    Ok(handles)
}
