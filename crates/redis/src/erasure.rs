//! Deleting from Redis: retention passes read a bounded range of the age index (and of the
//! receipt index, for events stored before the age index existed), then remove each event from
//! both indexes and its user's list in one script, so a pass killed half-way leaves every event
//! either whole or gone; forgetting a user walks their list.

use std::collections::HashSet;

use async_trait::async_trait;
use topten_store::events::StoredEvent;
use topten_store::{Erasure, EventsDue, StoreError, Tombstone, UserInVersion};

use crate::store::{backend_err, event_json, RedisStore};

/// Removes events: KEYS = age index, receipt index, then per event its user's list and client
/// ids; ARGV = per event its index member and its client id ('' for none). The user's list
/// holds the member, or the bare JSON when it was written before lists held members. An event
/// counts when it was still in an index (a re-run after a kill counts nothing twice).
const DELETE_EVENTS: &str = r"
local n = 0
for i = 1, #ARGV / 2 do
  local member, id = ARGV[2*i-1], ARGV[2*i]
  local a = redis.call('ZREM', KEYS[1], member)
  local b = redis.call('ZREM', KEYS[2], member)
  if redis.call('LREM', KEYS[2*i+1], 1, member) == 0 then
    redis.call('LREM', KEYS[2*i+1], 1, string.sub(member, 22))
  end
  if id ~= '' then redis.call('SREM', KEYS[2*i+2], id) end
  if a + b > 0 then n = n + 1 end
end
return n
";

/// Entries of the indexes looked at per event a pass may delete (entries still needed are
/// stepped over).
const SCAN_PER_DELETE: usize = 4;

/// An index member and the event it holds.
struct Member {
    member: Vec<u8>,
    event: StoredEvent,
}

impl Member {
    fn parse(member: Vec<u8>) -> Result<Self, StoreError> {
        let event = serde_json::from_slice(event_json(&member)?).map_err(backend_err)?;
        Ok(Member { member, event })
    }
}

impl RedisStore {
    /// Index members with a score below `below`, at most `count`.
    async fn members_below(
        &self,
        key: String,
        below: i64,
        count: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        self.query(
            "event index",
            redis::cmd("ZRANGEBYSCORE")
                .arg(key)
                .arg("-inf")
                .arg(format!("({below}"))
                .arg("LIMIT")
                .arg(0)
                .arg(count),
        )
        .await
    }

    /// Deletes `events` (members of the indexes).
    async fn delete_events(&self, events: &[Member]) -> Result<usize, StoreError> {
        if events.is_empty() {
            return Ok(0);
        }
        let script = redis::Script::new(DELETE_EVENTS);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.keys.event_age())
            .key(self.keys.event_index());
        for m in events {
            invocation
                .key(self.keys.events(&m.event.user_id))
                .key(self.keys.event_ids(&m.event.user_id));
        }
        for m in events {
            invocation
                .arg(&m.member[..])
                .arg(m.event.event_id.as_deref().unwrap_or(""));
        }
        let n: i64 = self
            .write("delete events", |mut con| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(n as usize)
    }
}

#[async_trait]
impl Erasure for RedisStore {
    async fn prune_events(&self, due: EventsDue, limit: usize) -> Result<usize, StoreError> {
        let (happened_before_ms, received_before_ms) =
            (due.happened_before_ms, due.received_before_ms);
        let scan = limit.saturating_mul(SCAN_PER_DELETE);
        let mut raw = self
            .members_below(self.keys.event_age(), happened_before_ms, scan)
            .await?;
        // Events stored before the age index: received before both bounds.
        raw.extend(
            self.members_below(
                self.keys.event_index(),
                happened_before_ms.min(received_before_ms),
                scan,
            )
            .await?,
        );
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for member in raw {
            if found.len() == limit || !seen.insert(member.clone()) {
                continue;
            }
            let m = Member::parse(member)?;
            if due.covers(&m.event) {
                found.push(m);
            }
        }
        self.delete_events(&found).await
    }

    async fn prune_item_changes(&self, before_ms: i64, limit: usize) -> Result<usize, StoreError> {
        let ids: Vec<String> = self
            .query(
                "item changes",
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.item_changes())
                    .arg("-inf")
                    .arg(format!("({before_ms}"))
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit),
            )
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        // Only changes still older than the cutoff: one made since the read stays.
        let script = redis::Script::new(
            r"
local n = 0
for i = 1, #ARGV - 1 do
  local score = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if score and tonumber(score) < tonumber(ARGV[#ARGV]) then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('ZREM', KEYS[2], ARGV[i])
    n = n + 1
  end
end
return n
",
        );
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.keys.items())
            .key(self.keys.item_changes())
            .arg(&ids)
            .arg(before_ms);
        let n: i64 = self
            .write("item changes", |mut con| {
                let invocation = &invocation;
                async move { invocation.invoke_async(&mut con).await }
            })
            .await?;
        Ok(n as usize)
    }

    async fn prune_answer_counts(&self, before_ms: i64) -> Result<usize, StoreError> {
        let key = self.keys.answer_counts();
        let all: Vec<(String, Vec<u8>)> = self
            .query("answer counts", redis::cmd("HGETALL").arg(&key))
            .await?;
        let mut stale = Vec::new();
        for (instance, bytes) in all {
            let counts: topten_store::AnswerCounts =
                serde_json::from_slice(&bytes).map_err(backend_err)?;
            if counts.saved_ms < before_ms {
                stale.push(instance);
            }
        }
        if stale.is_empty() {
            return Ok(0);
        }
        let n: i64 = self
            .write("answer counts", |mut con| {
                let cmd = redis::cmd("HDEL").arg(&key).arg(&stale).clone();
                async move { cmd.query_async(&mut con).await }
            })
            .await?;
        Ok(n as usize)
    }

    async fn delete_user_events(&self, user_id: &str) -> Result<usize, StoreError> {
        let list: Vec<Vec<u8>> = self
            .query(
                "user events",
                redis::cmd("LRANGE")
                    .arg(self.keys.events(user_id))
                    .arg(0)
                    .arg(-1),
            )
            .await?;
        let mut due = Vec::new();
        let mut legacy = HashSet::new();
        for entry in list {
            if entry.first() == Some(&b'{') {
                legacy.insert(entry);
            } else {
                due.push(Member::parse(entry)?);
            }
        }
        if !legacy.is_empty() {
            // Lists written before they held index members: find the members by scanning the
            // receipt index once.
            let all: Vec<Vec<u8>> = self
                .query(
                    "event index",
                    redis::cmd("ZRANGE")
                        .arg(self.keys.event_index())
                        .arg(0)
                        .arg(-1),
                )
                .await?;
            for member in all {
                if legacy.contains(event_json(&member)?) {
                    due.push(Member::parse(member)?);
                }
            }
        }
        let mut deleted = 0;
        for batch in due.chunks(500) {
            deleted += self.delete_events(batch).await?;
        }
        // The list and the ids are the user's alone: whatever is left (a legacy entry without
        // an index member, ids of pruned events) goes with them.
        let keys = [self.keys.events(user_id), self.keys.event_ids(user_id)];
        self.write("user events", |mut con| {
            let cmd = redis::cmd("DEL").arg(&keys).clone();
            async move { cmd.query_async::<i64>(&mut con).await }
        })
        .await?;
        Ok(deleted)
    }

    async fn delete_user_in_version(
        &self,
        version: &str,
        user_id: &str,
    ) -> Result<UserInVersion, StoreError> {
        let (recs, hist) = (self.keys.recs(version), self.keys.hist(version));
        let (list, history): (i64, i64) = self
            .write("forget user", |mut con| {
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .cmd("HDEL")
                    .arg(&recs)
                    .arg(user_id)
                    .cmd("HDEL")
                    .arg(&hist)
                    .arg(user_id);
                async move { pipe.query_async(&mut con).await }
            })
            .await?;
        Ok(UserInVersion {
            list: list > 0,
            history: history > 0,
        })
    }

    async fn put_tombstone(&self, tombstone: &Tombstone) -> Result<(), StoreError> {
        let json = serde_json::to_vec(tombstone).map_err(backend_err)?;
        let key = self.keys.tombstones();
        self.write("tombstones", |mut con| {
            let cmd = redis::cmd("HSET")
                .arg(&key)
                .arg(&tombstone.user_id)
                .arg(&json)
                .clone();
            async move { cmd.query_async::<i64>(&mut con).await }
        })
        .await?;
        Ok(())
    }

    async fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        self.hash_values("tombstones", self.keys.tombstones()).await
    }
}
