//! `sh volume|bucket|key|prefix ...`: each command as one request to the ring (a listing as one
//! per page), printed as Ozone prints it where omring follows Ozone's output.

use std::collections::BTreeMap;

use om_client::wire::*;
use om_client::FailoverClient;

use super::print::{list_all, print, print_outcome, print_read};
use super::{acl, parse_size, split_path, BucketOp, CliError, KeyOp, QuotaArgs, ShCommand, VolumeOp};

pub(super) async fn run(client: &FailoverClient, what: &ShCommand, json: bool, verbose: bool) -> Result<(), CliError> {
    // Ozone's create and rename print nothing unless asked to.
    let show_made = json || verbose;
    match what {
        ShCommand::Volume { op } => match op {
            VolumeOp::Create { path, user, quota } => {
                let v = split_path(path, 1)?.remove(0);
                let r = client
                    .write(WriteOp::CreateVolume {
                        volume: v,
                        owner: user.clone(),
                        quota_in_bytes: quota_bytes(quota)?,
                        quota_in_namespace: quota.namespace_quota,
                        metadata: BTreeMap::new(),
                    })
                    .await?;
                if show_made {
                    print_outcome(json, &r);
                }
            }
            VolumeOp::Update { path, user, quota } => {
                let v = split_path(path, 1)?.remove(0);
                let r = client
                    .write(WriteOp::SetVolumeProperty {
                        volume: v,
                        owner: user.clone(),
                        quota_in_bytes: quota_bytes(quota)?,
                        quota_in_namespace: quota.namespace_quota,
                    })
                    .await?;
                print_outcome(json, &r);
            }
            VolumeOp::Setquota { path, quota } => {
                volume_quota(client, path, quota_change(quota)?, json, show_made).await?
            }
            VolumeOp::Clrquota { path, clear } => volume_quota(client, path, clear.change()?, json, show_made).await?,
            VolumeOp::Info { path } => {
                let volume = split_path(path, 1)?.remove(0);
                let r = client.read(ReadOp::VolumeInfo { volume }).await?;
                print_read(json, &r);
            }
            VolumeOp::Delete { path } => {
                let volume = split_path(path, 1)?.remove(0);
                client.write(WriteOp::DeleteVolume { volume: volume.clone() }).await?;
                print(json, &serde_json::json!({"deleted": format!("/{volume}")}), || {
                    format!("Volume {volume} is deleted")
                });
            }
            VolumeOp::List { path: _, list, user } => {
                let page = |start: String| ReadOp::ListVolumes {
                    prefix: list.prefix.clone(),
                    start_after: start,
                    max: Some(list.length),
                    owner: user.clone(),
                };
                list_all(client, list, json, page).await?;
            }
            VolumeOp::Acl(op) => acl::run(client, AclResource::Volume, op, json).await?,
        },
        ShCommand::Bucket { op } => match op {
            BucketOp::Create { path, layout, user, versioning, quota } => {
                let mut p = split_path(path, 2)?;
                let (bucket, volume) = (p.remove(1), p.remove(0));
                let layout = layout.as_deref().map(str::parse::<BucketLayout>).transpose().map_err(CliError::Usage)?;
                let r = client
                    .write(WriteOp::CreateBucket {
                        volume,
                        bucket,
                        owner: user.clone(),
                        layout,
                        versioning: *versioning,
                        quota_in_bytes: quota_bytes(quota)?,
                        quota_in_namespace: quota.namespace_quota,
                        metadata: BTreeMap::new(),
                    })
                    .await?;
                if show_made {
                    print_outcome(json, &r);
                }
            }
            BucketOp::Update { path, user, versioning, quota } => {
                let mut p = split_path(path, 2)?;
                let (bucket, volume) = (p.remove(1), p.remove(0));
                let r = client
                    .write(WriteOp::SetBucketProperty {
                        volume,
                        bucket,
                        owner: user.clone(),
                        versioning: *versioning,
                        quota_in_bytes: quota_bytes(quota)?,
                        quota_in_namespace: quota.namespace_quota,
                    })
                    .await?;
                print_outcome(json, &r);
            }
            BucketOp::Setquota { path, quota } => {
                let change = quota_change(quota)?;
                bucket_quota(client, path, change, json, show_made).await?;
            }
            BucketOp::Clrquota { path, clear } => bucket_quota(client, path, clear.change()?, json, show_made).await?,
            BucketOp::Info { path } => {
                let mut p = split_path(path, 2)?;
                let r = client.read(ReadOp::BucketInfo { bucket: p.remove(1), volume: p.remove(0) }).await?;
                print_read(json, &r);
            }
            BucketOp::Delete { path } => {
                let mut p = split_path(path, 2)?;
                let (bucket, volume) = (p.remove(1), p.remove(0));
                client.write(WriteOp::DeleteBucket { volume: volume.clone(), bucket: bucket.clone() }).await?;
                print(json, &serde_json::json!({"deleted": format!("/{volume}/{bucket}")}), || {
                    format!("Bucket {bucket} is deleted")
                });
            }
            BucketOp::List { path, list } => {
                let volume = split_path(path, 1)?.remove(0);
                let page = |start: String| ReadOp::ListBuckets {
                    volume: volume.clone(),
                    prefix: list.prefix.clone(),
                    start_after: start,
                    max: Some(list.length),
                };
                list_all(client, list, json, page).await?;
            }
            BucketOp::Acl(op) => acl::run(client, AclResource::Bucket, op, json).await?,
        },
        ShCommand::Key { op } => match op {
            KeyOp::Create { path, size, replication, meta } => {
                let mut p = split_path(path, 3)?;
                let (key, bucket, volume) = (p.remove(2), p.remove(1), p.remove(0));
                let key =
                    client.create_key(&volume, &bucket, &key, *size, replication.clone(), parse_meta(meta)?).await?;
                if show_made {
                    print(json, &key, || super::ozone_json::key(&key));
                }
            }
            KeyOp::Info { path } => {
                let mut p = split_path(path, 3)?;
                let r =
                    client.read(ReadOp::KeyInfo { key: p.remove(2), bucket: p.remove(1), volume: p.remove(0) }).await?;
                print_read(json, &r);
            }
            KeyOp::Delete { path } => {
                let mut p = split_path(path, 3)?;
                let (key, bucket, volume) = (p.remove(2), p.remove(1), p.remove(0));
                client
                    .write(WriteOp::DeleteKey { volume: volume.clone(), bucket: bucket.clone(), key: key.clone() })
                    .await?;
                print(json, &serde_json::json!({"deleted": format!("/{volume}/{bucket}/{key}")}), || {
                    format!("Key {key} is deleted")
                });
            }
            KeyOp::Rename { path, to } => {
                let mut p = split_path(path, 3)?;
                let (key, bucket, volume) = (p.remove(2), p.remove(1), p.remove(0));
                let r = client.write(WriteOp::RenameKey { volume, bucket, key, to_key: to.clone() }).await?;
                if show_made {
                    print_outcome(json, &r);
                }
            }
            KeyOp::List { path, list } => {
                let mut p = split_path(path, 2)?;
                let (bucket, volume) = (p.remove(1), p.remove(0));
                let page = |start: String| ReadOp::ListKeys {
                    volume: volume.clone(),
                    bucket: bucket.clone(),
                    prefix: list.prefix.clone(),
                    start_after: start,
                    max: Some(list.length),
                };
                list_all(client, list, json, page).await?;
            }
            KeyOp::Acl(op) => acl::run(client, AclResource::Key, op, json).await?,
        },
        ShCommand::Prefix { op } => acl::run(client, AclResource::Prefix, op, json).await?,
    }
    Ok(())
}

fn parse_meta(items: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    items
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| CliError::Usage(format!("invalid metadata {kv:?}: expected KEY=VALUE")))
        })
        .collect()
}

/// A volume's quota change; prints the volume with `--verbose` or `--json`.
async fn volume_quota(
    client: &FailoverClient,
    path: &str,
    (quota_in_bytes, quota_in_namespace): (Option<i64>, Option<i64>),
    json: bool,
    show: bool,
) -> Result<(), CliError> {
    let volume = split_path(path, 1)?.remove(0);
    let r =
        client.write(WriteOp::SetVolumeProperty { volume, owner: None, quota_in_bytes, quota_in_namespace }).await?;
    if show {
        print_outcome(json, &r);
    }
    Ok(())
}

/// A bucket's quota change; prints the bucket with `--verbose` or `--json`.
async fn bucket_quota(
    client: &FailoverClient,
    path: &str,
    (quota_in_bytes, quota_in_namespace): (Option<i64>, Option<i64>),
    json: bool,
    show: bool,
) -> Result<(), CliError> {
    let mut p = split_path(path, 2)?;
    let (bucket, volume) = (p.remove(1), p.remove(0));
    let op = WriteOp::SetBucketProperty {
        volume,
        bucket,
        owner: None,
        versioning: None,
        quota_in_bytes,
        quota_in_namespace,
    };
    let r = client.write(op).await?;
    if show {
        print_outcome(json, &r);
    }
    Ok(())
}

/// What `setquota` changes: at least one quota must be given.
fn quota_change(q: &QuotaArgs) -> Result<(Option<i64>, Option<i64>), CliError> {
    if q.quota.is_none() && q.namespace_quota.is_none() {
        return Err(CliError::Usage("setquota needs --space-quota and/or --namespace-quota".into()));
    }
    Ok((quota_bytes(q)?, q.namespace_quota))
}

fn quota_bytes(q: &QuotaArgs) -> Result<Option<i64>, CliError> {
    q.quota.as_deref().map(parse_size).transpose()
}
