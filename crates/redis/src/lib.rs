//! The Redis store of topten: Azure Cache for Redis, Azure Managed Redis, or any Redis server,
//! behind the same store roles as the embedded and Cosmos DB stores
//! ([`topten_store::RecsReader`], [`topten_store::VersionStorage`] and the version rules of
//! [`topten_store::Publisher`], [`topten_store::EventLog`], [`topten_store::ItemEdits`]).
//!
//! Why Redis: a point read from memory on the same network is the lowest serving latency a
//! shared store gives; Cosmos DB gives global distribution and durability instead. A team can
//! use both: Cosmos DB as the system of record, and `topten publish` of the same model into
//! Redis for serving (or `topten republish` after a cache lost its data).
//!
//! One request is one round trip once warm: the handler caches the active pointer and the
//! popular list, and a user's list is one `HGET` of the version's hash. Publishing sends
//! `HSET`s of `TOPTEN_REDIS_BATCH` documents each, all in one pipelined round trip per batch.
//! A version's keys carry the version, so activation is one compare-and-set of the pointer.
//!
//! The server must not evict keys (`maxmemory-policy noeviction`): eviction would silently
//! drop users' lists. [`RedisStore`] checks this when it connects and refuses otherwise.
//!
//! # Layout
//! - [`settings`]: the store URI (`redis://`, `rediss://`) and the `TOPTEN_REDIS_*` settings;
//! - [`entra`]: Microsoft Entra ID credentials, refreshed on live connections;
//! - [`keys`]: the key layout;
//! - [`store`]: [`RedisStore`], the store roles over a reconnecting multiplexed connection;
//! - `erasure`: its deletions (retention passes, forgetting a user).
#![deny(missing_docs)]

pub mod entra;
mod erasure;
pub mod keys;
pub mod settings;
pub mod store;

pub use settings::{RedisAuth, RedisSettings};
pub use store::RedisStore;
