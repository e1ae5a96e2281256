//! The file-system reads of OzoneManagerProtocol: GetFileStatus, ListStatus and
//! ListStatusLight. Ozone's client lists a FILE_SYSTEM_OPTIMIZED bucket with them (`ozone sh key
//! list` walks the tree one directory at a time); the namespace answers with
//! [`ReadOp::ListStatus`].

use om_client::wire::*;

use super::convert;
use super::dispatch::{missing, page, unexpected, Ctx, Refusal};
use super::proto::om;

/// Ozone's default block size (`ozone.scm.block.size`, 256 MB): what a status reports, as
/// omring's keys have no blocks.
const BLOCK_SIZE: u64 = 256 << 20;

/// Serves GetFileStatus (70), ListStatus (74) and ListStatusLight (129) into `resp`.
pub(super) async fn handle(
    cx: &Ctx<'_>,
    cmd: i32,
    req: &om::OmRequest,
    resp: &mut om::OmResponse,
) -> Result<(), Refusal> {
    match cmd {
        70 => {
            let args = req.get_file_status_request.as_ref().and_then(|r| r.key_args.as_ref());
            let args = args.ok_or_else(|| missing("getFileStatusRequest.keyArgs"))?;
            let status = file_status(cx, args).await?;
            resp.get_file_status_response = Some(om::GetFileStatusResponse { status });
        }
        74 | 129 => {
            let r = req.list_status_request.as_ref().ok_or_else(|| missing("listStatusRequest"))?;
            let args = r.key_args.as_ref().ok_or_else(|| missing("listStatusRequest.keyArgs"))?;
            let op = ReadOp::ListStatus {
                volume: args.volume_name.clone(),
                bucket: args.bucket_name.clone(),
                key: args.key_name.clone(),
                start_key: r.start_key.clone(),
                max: Some(page(i64::try_from(r.num_entries).ok())),
                recursive: r.recursive,
                allow_partial_prefix: r.allow_partial_prefix.unwrap_or(false),
            };
            let statuses = match cx.read(op).await? {
                ReadResponse::Statuses { statuses } => statuses,
                other => return Err(unexpected("ListStatus", other)),
            };
            if cmd == 74 {
                resp.list_status_response =
                    Some(om::ListStatusResponse { statuses: statuses.iter().map(status_to).collect() });
            } else {
                resp.list_status_light_response =
                    Some(om::ListStatusLightResponse { statuses: statuses.iter().map(light_status_to).collect() });
            }
        }
        other => return Err(unexpected("file status dispatch", other)),
    }
    Ok(())
}

/// GetFileStatus: the bucket's root, a file, or a directory; FILE_NOT_FOUND otherwise.
async fn file_status(cx: &Ctx<'_>, args: &om::KeyArgs) -> Result<om::OzoneFileStatus, Refusal> {
    let (v, b) = (&args.volume_name, &args.bucket_name);
    let name = args.key_name.trim_matches('/');
    if name.is_empty() {
        // The root: the bucket must exist; Ozone's root status carries no key.
        cx.read(ReadOp::BucketInfo { volume: v.clone(), bucket: b.clone() }).await?;
        return Ok(om::OzoneFileStatus { key_info: None, block_size: Some(BLOCK_SIZE), is_directory: Some(true) });
    }
    let op = ReadOp::KeyInfo { volume: v.clone(), bucket: b.clone(), key: name.to_string() };
    match cx.read(op).await {
        Ok(ReadResponse::Key { key }) => Ok(status_to(&FileStatus::of_row(key))),
        Ok(other) => Err(unexpected("KeyInfo", other)),
        Err(Refusal::Api(e)) if e.code == ErrorCode::KeyNotFound => Err(Refusal::Api(ApiError::new(
            ErrorCode::FileNotFound,
            format!("Unable to get file status: volume: {v} bucket: {b} key: {name}"),
        ))),
        Err(e) => Err(e),
    }
}

fn status_to(s: &FileStatus) -> om::OzoneFileStatus {
    om::OzoneFileStatus {
        key_info: Some(om::KeyInfo { is_file: Some(!s.is_directory), ..convert::key_to(&s.key) }),
        block_size: Some(BLOCK_SIZE),
        is_directory: Some(s.is_directory),
    }
}

fn light_status_to(s: &FileStatus) -> om::OzoneFileStatusLight {
    om::OzoneFileStatusLight {
        volume_name: Some(s.key.volume.clone()),
        bucket_name: Some(s.key.bucket.clone()),
        basic_key_info: Some(om::BasicKeyInfo { is_file: Some(!s.is_directory), ..convert::basic_key_to(&s.key) }),
        block_size: Some(BLOCK_SIZE),
        is_directory: Some(s.is_directory),
    }
}
