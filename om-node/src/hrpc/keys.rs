//! The key requests of OzoneManagerProtocol for keys without data. omring has no SCM and no
//! datanodes, so a key can be created and committed only while it is empty: CreateKey with a
//! size, CommitKey with a size, and AllocateBlock (not served) get NOT_SUPPORTED_OPERATION with
//! that reason. An empty key needs no block: the client writes nothing and commits.

use om_client::wire::*;

use super::convert;
use super::dispatch::{missing, page, unexpected, Ctx, Refusal};
use super::proto::om;
use super::status::{st, status_name, status_of};

fn key_args<'a>(args: Option<&'a om::KeyArgs>, what: &str) -> Result<&'a om::KeyArgs, Refusal> {
    args.ok_or_else(|| missing(what))
}

fn no_data(args: &om::KeyArgs, request: &str) -> Result<(), Refusal> {
    match args.data_size {
        Some(n) if n > 0 => Err(Refusal::NotSupported(format!(
            "{request} of {}/{}/{} with {n} bytes: omring has no datanodes (no SCM), so only empty keys can be \
             written over Hadoop RPC",
            args.volume_name, args.bucket_name, args.key_name
        ))),
        _ => Ok(()),
    }
}

fn no_rewrite(args: &om::KeyArgs) -> Result<(), Refusal> {
    if args.expected_data_generation.is_some() || args.expected_e_tag.is_some() {
        return Err(Refusal::NotSupported(
            "conditional key writes (expected generation or ETag) are not served".into(),
        ));
    }
    if !args.tags.is_empty() {
        return Err(Refusal::NotSupported("object tags are not served".into()));
    }
    Ok(())
}

/// Serves CreateKey, LookupKey, RenameKey, DeleteKey, ListKeys, CommitKey, DeleteKeys,
/// GetKeyInfo and ListKeysLight into `resp`.
pub(super) async fn handle(
    cx: &Ctx<'_>,
    cmd: i32,
    req: &om::OmRequest,
    resp: &mut om::OmResponse,
) -> Result<(), Refusal> {
    match cmd {
        31 => {
            let args = key_args(req.create_key_request.as_ref().and_then(|r| r.key_args.as_ref()), "keyArgs")?;
            no_data(args, "CreateKey")?;
            no_rewrite(args)?;
            let op = WriteOp::OpenKey {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
                size: 0,
                replication: convert::replication_from(args.r#type, args.factor),
                metadata: convert::metadata_from(&args.metadata),
            };
            match cx.write(op).await? {
                WriteOutcome::OpenKey { client_id, key } => {
                    resp.create_key_response = Some(om::KeyInfoResponse {
                        key_info: Some(convert::key_to(&key)),
                        id: Some(client_id),
                        open_version: Some(0),
                    })
                }
                other => return Err(unexpected("OpenKey", other)),
            }
        }
        36 => {
            let r = req.commit_key_request.as_ref().ok_or_else(|| missing("commitKeyRequest"))?;
            let args = key_args(r.key_args.as_ref(), "commitKeyRequest.keyArgs")?;
            no_data(args, "CommitKey")?;
            cx.write(WriteOp::CommitKey {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
                client_id: r.client_id,
                size: Some(0),
            })
            .await?;
            resp.commit_key_response = Some(om::Empty {});
        }
        32 | 111 => {
            let args = if cmd == 32 { &req.lookup_key_request } else { &req.get_key_info_request };
            let args = key_args(args.as_ref().and_then(|r| r.key_args.as_ref()), "keyArgs")?;
            let op = ReadOp::KeyInfo {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
            };
            let key = match cx.read(op).await? {
                ReadResponse::Key { key } => convert::key_to(&key),
                other => return Err(unexpected("KeyInfo", other)),
            };
            if cmd == 32 {
                resp.lookup_key_response =
                    Some(om::KeyInfoResponse { key_info: Some(key), id: None, open_version: None });
            } else {
                resp.get_key_info_response = Some(om::GetKeyInfoResponse { key_info: Some(key) });
            }
        }
        33 => {
            let r = req.rename_key_request.as_ref().ok_or_else(|| missing("renameKeyRequest"))?;
            let args = key_args(r.key_args.as_ref(), "renameKeyRequest.keyArgs")?;
            cx.write(WriteOp::RenameKey {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
                to_key: r.to_key_name.clone(),
            })
            .await?;
            resp.rename_key_response = Some(om::Empty {});
        }
        34 => {
            let args = key_args(req.delete_key_request.as_ref().and_then(|r| r.key_args.as_ref()), "keyArgs")?;
            cx.write(WriteOp::DeleteKey {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
            })
            .await?;
            resp.delete_key_response = Some(om::Empty {});
        }
        35 | 126 => {
            let r = req.list_keys_request.as_ref().ok_or_else(|| missing("listKeysRequest"))?;
            let max = page(r.count.map(i64::from));
            let op = ReadOp::ListKeys {
                volume: r.volume_name.clone(),
                bucket: r.bucket_name.clone(),
                prefix: r.prefix.clone().unwrap_or_default(),
                start_after: r.start_key.clone().unwrap_or_default(),
                max: Some(max),
            };
            let keys = match cx.read(op).await? {
                ReadResponse::Keys { keys } => keys,
                other => return Err(unexpected("ListKeys", other)),
            };
            let is_truncated = Some(keys.len() >= max as usize);
            if cmd == 35 {
                resp.list_keys_response =
                    Some(om::ListKeysResponse { key_info: keys.iter().map(convert::key_to).collect(), is_truncated });
            } else {
                resp.list_keys_light_response = Some(om::ListKeysLightResponse {
                    basic_key_info: keys.iter().map(convert::basic_key_to).collect(),
                    is_truncated,
                });
            }
        }
        38 => resp.delete_keys_response = Some(delete_keys(cx, req, resp).await?),
        other => return Err(unexpected("key request dispatch", other)),
    }
    Ok(())
}

/// DeleteKeys: each key deleted on its own (a retry-cache id per key). Like Ozone's OM, keys
/// that cannot be deleted are listed with their reason and the status is PARTIAL_DELETE; a
/// leadership change stops the call, so the client retries it whole (the keys already deleted
/// answer from the retry cache).
async fn delete_keys(
    cx: &Ctx<'_>,
    req: &om::OmRequest,
    resp: &mut om::OmResponse,
) -> Result<om::DeleteKeysResponse, Refusal> {
    let args = req.delete_keys_request.as_ref().and_then(|r| r.delete_keys.as_ref());
    let args = args.ok_or_else(|| missing("deleteKeysRequest.deleteKeys"))?;
    let mut undeleted = om::DeleteKeyArgs {
        volume_name: args.volume_name.clone(),
        bucket_name: args.bucket_name.clone(),
        keys: Vec::new(),
    };
    let mut errors = Vec::new();
    for (part, key) in args.keys.iter().enumerate() {
        let op =
            WriteOp::DeleteKey { volume: args.volume_name.clone(), bucket: args.bucket_name.clone(), key: key.clone() };
        match cx.write_part(part, op).await {
            Ok(_) => {}
            Err(Refusal::Api(e)) if !matches!(e.code, ErrorCode::NotLeader | ErrorCode::LeaderNotReady) => {
                undeleted.keys.push(key.clone());
                errors.push(om::DeleteKeyError {
                    key: Some(key.clone()),
                    error_code: Some(status_name(status_of(e.code)).to_string()),
                    error_msg: Some(e.message),
                });
            }
            Err(refusal) => return Err(refusal),
        }
    }
    let all = errors.is_empty();
    if !all {
        resp.success = Some(false);
        resp.status = st::PARTIAL_DELETE;
        resp.message = Some(format!("{} of {} keys were not deleted", errors.len(), args.keys.len()));
    }
    Ok(om::DeleteKeysResponse { un_deleted_keys: Some(undeleted), status: Some(all), errors })
}
