//! `sh volume|bucket|key|prefix ...`: each command as one request to the ring (a listing as one
//! per page), printed as Ozone prints it where omring follows Ozone's output.

use std::collections::BTreeMap;

use om_client::wire::*;
use om_client::FailoverClient;

use super::print::{list_all, print, print_outcome, print_read};
use super::{acl, split_path, BucketOp, CliError, KeyOp, ShCommand, VolumeOp};

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
                        quota_in_bytes: quota.bytes()?,
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
                        quota_in_bytes: quota.bytes()?,
                        quota_in_namespace: quota.namespace_quota,
                    })
                    .await?;
                print_outcome(json, &r);
            }
            VolumeOp::Quota(q) => {
                let (quota_in_bytes, quota_in_namespace) = q.change()?;
                let volume = split_path(q.path(), 1)?.remove(0);
                let op = WriteOp::SetVolumeProperty { volume, owner: None, quota_in_bytes, quota_in_namespace };
                write_quota(client, op, json, show_made).await?
            }
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
                        quota_in_bytes: quota.bytes()?,
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
                        quota_in_bytes: quota.bytes()?,
                        quota_in_namespace: quota.namespace_quota,
                    })
                    .await?;
                print_outcome(json, &r);
            }
            BucketOp::Quota(q) => {
                let (quota_in_bytes, quota_in_namespace) = q.change()?;
                let mut p = split_path(q.path(), 2)?;
                let (bucket, volume) = (p.remove(1), p.remove(0));
                let op = WriteOp::SetBucketProperty {
                    volume,
                    bucket,
                    owner: None,
                    versioning: None,
                    quota_in_bytes,
                    quota_in_namespace,
                };
                write_quota(client, op, json, show_made).await?
            }
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

/// A quota change; prints the changed volume or bucket with `--verbose` or `--json`.
async fn write_quota(client: &FailoverClient, op: WriteOp, json: bool, show: bool) -> Result<(), CliError> {
    let r = client.write(op).await?;
    if show {
        print_outcome(json, &r);
    }
    Ok(())
}
