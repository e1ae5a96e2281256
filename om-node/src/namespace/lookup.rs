//! Typed reads of single rows for callers outside the namespace: the authorization of a request
//! reads the owners and ACLs of what it touches through [`Lookup`] (absent rows are `None`, not
//! errors: the authorizer decides what a missing row means).

use om_client::wire::{ApiError, BucketInfo, KeyInfo, VolumeInfo};

use super::tables::{get_typed, open_key_key, prefix_key};
use super::{bucket_key, key_key, volume_key, PrefixInfo, Table, TableRead};

/// Row lookups over a table view.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    view: &'a dyn TableRead,
}

impl<'a> Lookup<'a> {
    pub fn new(view: &'a dyn TableRead) -> Self {
        Lookup { view }
    }

    pub fn volume(&self, v: &str) -> Result<Option<VolumeInfo>, ApiError> {
        Ok(get_typed(self.view, Table::Volumes, &volume_key(v))?)
    }

    pub fn bucket(&self, v: &str, b: &str) -> Result<Option<BucketInfo>, ApiError> {
        Ok(get_typed(self.view, Table::Buckets, &bucket_key(v, b))?)
    }

    pub fn key(&self, v: &str, b: &str, k: &str) -> Result<Option<KeyInfo>, ApiError> {
        Ok(get_typed(self.view, Table::Keys, &key_key(v, b, k))?)
    }

    /// The open key a commit names.
    pub fn open_key(&self, v: &str, b: &str, k: &str, client_id: u64) -> Result<Option<KeyInfo>, ApiError> {
        Ok(get_typed(self.view, Table::OpenKeys, &open_key_key(v, b, k, client_id))?)
    }

    /// The prefix entry at exactly `path`.
    pub fn prefix(&self, v: &str, b: &str, path: &str) -> Result<Option<PrefixInfo>, ApiError> {
        Ok(get_typed(self.view, Table::Prefixes, &prefix_key(v, b, path))?)
    }
}
