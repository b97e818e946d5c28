//! Handler settings: one plain struct, read from app settings (environment variables) with
//! flags as overrides, and checked when the handler starts, so a mistyped setting stops the
//! start instead of failing the nightly retrain. [`Config::default`] gives the documented
//! defaults; the settings table of `docs/guide.md` is checked against this file by
//! `functions/tests/it/settings_doc.rs`.

use std::time::Duration;

use topten_azure::blob::Location;
use topten_model::als::Feedback;
use topten_model::catalogue::filter::Filter;
use topten_model::metrics::TargetMetric;

/// What to answer for a user without personal recommendations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownUser {
    /// Popular items, `source: "popular"`.
    Popular,
    /// 404 `user_not_found`.
    NotFound,
    /// Trending items of the last 24 hours (`GET /api/items/trending`), `source: "trending"`.
    Trending,
}

/// Handler configuration. Every field has an environment variable (the Functions app setting).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Config {
    /// Store URI: `embedded:PATH`, `cosmos://ACCOUNT.documents.azure.com/DB/CONTAINER` (or an
    /// emulator's `cosmos+http://127.0.0.1:PORT/DB/CONTAINER`), `rediss://HOST:PORT` (or a local
    /// `redis://127.0.0.1:PORT/DB`); settings of each: docs/azure.md.
    #[arg(
        long = "store",
        env = "TOPTEN_STORE",
        default_value = "embedded:./data/topten.db"
    )]
    pub store_uri: String,
    /// Answer for users without personal recommendations.
    #[arg(
        long,
        env = "TOPTEN_UNKNOWN_USER",
        value_enum,
        default_value = "popular"
    )]
    pub unknown_user: UnknownUser,
    /// Items returned when the request has no `k`.
    #[arg(long, env = "TOPTEN_DEFAULT_K", default_value_t = 10)]
    pub default_k: usize,
    /// Largest `k` accepted.
    #[arg(long, env = "TOPTEN_MAX_K", default_value_t = 100)]
    pub max_k: usize,
    /// Longest user id accepted (characters).
    #[arg(long, env = "TOPTEN_MAX_ID_LEN", default_value_t = 128)]
    pub max_id_len: usize,
    /// How long the active-version pointer is cached (milliseconds).
    #[arg(long, env = "TOPTEN_ACTIVE_TTL_MS", default_value_t = 1000)]
    pub active_ttl_ms: u64,
    /// Per-request timeout of the `/api` routes (milliseconds): a handler still running then is
    /// answered 503 `server_timeout`. The timer trigger (`/retrain`) has none: the Functions
    /// host's `functionTimeout` bounds it.
    #[arg(long, env = "TOPTEN_REQUEST_TIMEOUT_MS", default_value_t = 10_000)]
    pub request_timeout_ms: u64,
    /// Longest wait for a complete request head, and for the next request on an idle
    /// kept-alive connection (milliseconds); the connection is then closed.
    #[arg(long, env = "TOPTEN_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Longest wait for a whole request body (milliseconds): 408 `request_timeout` after it.
    /// Keep it below TOPTEN_REQUEST_TIMEOUT_MS.
    #[arg(long, env = "TOPTEN_BODY_TIMEOUT_MS", default_value_t = 5_000)]
    pub body_timeout_ms: u64,
    /// Largest request body (bytes): 413 `body_too_large` above it.
    #[arg(long, env = "TOPTEN_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Longest request target, path and query (bytes): 414 `uri_too_long` above it.
    #[arg(long, env = "TOPTEN_MAX_URI_BYTES", default_value_t = 8 * 1024)]
    pub max_uri_bytes: usize,
    /// Largest request head, request line and headers (bytes): 431 `headers_too_large` above
    /// it (also above 100 headers).
    #[arg(long, env = "TOPTEN_MAX_HEADER_BYTES", default_value_t = 32 * 1024)]
    pub max_header_bytes: usize,
    /// Log one line per request (method, route, status, latency, request id). Off by default:
    /// at 2 million requests it is ~460 MB of logs; `/api/metrics` has the counts and
    /// latencies. Errors (5xx) and request timeouts (408) are logged either way.
    #[arg(long, env = "TOPTEN_LOG_REQUESTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub log_requests: bool,
    /// API key required on the write and admin routes (events, the item routes
    /// `/api/items/{itemId}` and `POST /api/items`, the retrain trigger, metrics, admin stats
    /// and the dashboard),
    /// sent as the `x-functions-key` header or the `code` query parameter, as Azure Functions
    /// takes function keys. Unset: no key is checked (under Azure Functions the host's function
    /// keys protect those routes); then `topten serve` binds only loopback addresses. Set it
    /// in the environment: a flag's value shows in the process list to every local user.
    #[arg(long, env = "TOPTEN_API_KEY", hide_env_values = true, value_parser = SecretParser::<ApiKey>::new())]
    pub api_key: Option<ApiKey>,
    /// Keys that sign every answer's `recommendationId` (comma-separated, each at least 16
    /// characters): the first signs, all verify, so a key is rotated by putting the new one
    /// first and removing the old one after the attribution window. Unset: derived from
    /// `TOPTEN_API_KEY`; with neither, a random key per process (ids then verify only on the
    /// instance that served them, and not after a restart). Every instance and target that
    /// serves the same users needs the same keys.
    #[arg(long, env = "TOPTEN_ID_KEY", hide_env_values = true, value_parser = SecretParser::<IdKeySetting>::new())]
    pub id_key: Option<IdKeySetting>,
    /// Retrain input (comma-separated): files, directories, blobs (`az://ACCOUNT/CONTAINER/PATH`)
    /// or blob prefixes ending in `/` (every blob under it, in name order).
    #[arg(long, env = "TRAINING_INPUT", value_delimiter = ',')]
    pub training_input: Vec<Location>,
    /// Where retrain candidates come from instead of training on TRAINING_INPUT:
    /// `spark:PREFIX` imports the newest complete run of spark/topten_als.py under PREFIX
    /// (`az://ACCOUNT/CONTAINER/runs/` or a directory), gated and published as a trained one.
    #[arg(long, env = "RETRAIN_SOURCE")]
    pub retrain_source: Option<RetrainSource>,
    /// The item catalogue retrains publish with each version: a file or a blob (JSON Lines or
    /// CSV/TSV with a header).
    #[arg(long, env = "TRAINING_ITEMS")]
    pub training_items: Option<Location>,
    /// Named filters requests can use as `filter=NAME`: a JSON object from names to filter
    /// expressions, e.g. `{"cheap": "price < 10", "comedies": "category = 'Comedy'"}`.
    #[arg(long, env = "TOPTEN_FILTERS")]
    pub filters: Option<NamedFilters>,
    /// What a retrain does with a candidate that passes the gate: `activate` it, or start an
    /// `experiment` that serves it to RETRAIN_EXPERIMENT_SHARE of users.
    #[arg(long, env = "RETRAIN_MODE", value_enum, default_value = "activate")]
    pub retrain_mode: RetrainModeSetting,
    /// The candidate's share of users in experiments that retrains start (above 0, at most 1).
    #[arg(long, env = "RETRAIN_EXPERIMENT_SHARE", default_value_t = 0.1)]
    pub retrain_experiment_share: f64,
    /// Retrain model family (`implicit` or `explicit`), used when RETRAIN_PARAMS is unset.
    #[arg(long, env = "RETRAIN_MODEL", default_value = "implicit")]
    pub retrain_model: Feedback,
    /// Retrain hyperparameters: a tuned model's tuning.json, a model.json or a parameters
    /// object (unset: the defaults of `RETRAIN_MODEL`).
    #[arg(long, env = "RETRAIN_PARAMS")]
    pub retrain_params: Option<std::path::PathBuf>,
    /// Retrain gate metric: `ndcg_at_k`, `precision_at_k`, `recall_at_k` or `map_at_k`.
    #[arg(long, env = "QUALITY_METRIC", default_value = "ndcg_at_k")]
    pub quality_metric: TargetMetric,
    /// Allowed relative drop of the gate metric.
    #[arg(long, env = "QUALITY_TOLERANCE", default_value_t = 0.02)]
    pub quality_tolerance: f64,
    /// Items stored per user when publishing.
    #[arg(long, env = "ITEMS_PER_USER", default_value_t = 50)]
    pub items_per_user: usize,
    /// Where retrains write model directories (`ROOT/{version}`): a directory or a blob prefix
    /// such as `az://ACCOUNT/models`.
    #[arg(long, env = "TOPTEN_MODEL_ROOT", default_value = "./data/models")]
    pub model_root: Location,
    /// How long after an answer (or impression) a positive event is still attributed to it
    /// (hours).
    #[arg(long, env = "ATTRIBUTION_WINDOW_HOURS", default_value_t = 24.0)]
    pub attribution_window_hours: f64,
    /// A rating at or above this is positive feedback (attributed, and it clears an item's
    /// repeat count).
    #[arg(long, env = "POSITIVE_RATING", default_value_t = 4.0)]
    pub positive_rating: f64,
    /// Impressions of an item without a positive event after which it sinks in the user's
    /// list (0: never).
    #[arg(long, env = "REPEAT_LIMIT", default_value_t = 3)]
    pub repeat_limit: u32,
    /// An item's factor is solved from live events at most once per this many seconds on an
    /// instance (item fold-in); events for it in between wait for the next solve.
    #[arg(long, env = "TOPTEN_ITEM_FOLD_IN_SECS", default_value_t = 10)]
    pub item_fold_in_secs: u64,
    /// A trained item is folded in from live events while it has fewer training interactions
    /// than this; items the version does not know always are (0: only those).
    #[arg(long, env = "TOPTEN_ITEM_FOLD_IN_BELOW", default_value_t = topten_live::item_fold_in::DEFAULT_BELOW)]
    pub item_fold_in_below: u32,
    /// Places of every ten in a personal list kept for new items (items the version did not
    /// train, younger than TOPTEN_NEW_ITEM_DAYS), filled by the user's best-scoring ones and
    /// marked `"reason": "new"` (0: none; at most 10).
    #[arg(long, env = "TOPTEN_NEW_ITEM_SLOTS", default_value_t = 1)]
    pub new_item_slots: u32,
    /// How long an item counts as new for TOPTEN_NEW_ITEM_SLOTS (days), from when it was first
    /// seen: its first live change or event, else the publish of the version.
    #[arg(long, env = "TOPTEN_NEW_ITEM_DAYS", default_value_t = 7.0)]
    pub new_item_days: f64,
    /// How often each instance saves its answer counts to the store (seconds).
    #[arg(long, env = "TOPTEN_COUNTS_SAVE_SECS", default_value_t = 10)]
    pub counts_save_secs: u64,
    /// How long events are kept, from the time each happened (its own timestamp): a duration
    /// with a unit (`60s`, `12h`, `90d`). Unset: forever. An event a serving version still folds
    /// in is kept until a newer version serves (docs/privacy.md).
    #[arg(long, env = "TOPTEN_EVENTS_RETENTION", value_parser = events_retention)]
    pub events_retention: Option<Duration>,
    /// How long live item changes are kept, from when they were made (a duration with a unit).
    /// Unset: forever. A change goes only once every serving version was published after it.
    #[arg(long, env = "TOPTEN_ITEM_CHANGES_RETENTION", value_parser = item_changes_retention)]
    pub item_changes_retention: Option<Duration>,
    /// How long the answer counts of an instance that stopped saving are kept (a duration with
    /// a unit). Unset: forever.
    #[arg(long, env = "TOPTEN_ANSWER_COUNTS_RETENTION", value_parser = answer_counts_retention)]
    pub answer_counts_retention: Option<Duration>,
    /// Make the read routes (recommendations, rank, similar items, trending) need the API key
    /// too: for deployments where the API is reachable by the public rather than only by the
    /// shop's own back end, so nobody can read a user's list by guessing the id.
    #[arg(long, env = "TOPTEN_PROTECT_READS", default_value_t = false, action = clap::ArgAction::Set)]
    pub protect_reads: bool,
}

fn events_retention(s: &str) -> Result<Duration, String> {
    topten_live::retention::parse_duration("TOPTEN_EVENTS_RETENTION", s).map_err(|e| e.to_string())
}

fn item_changes_retention(s: &str) -> Result<Duration, String> {
    topten_live::retention::parse_duration("TOPTEN_ITEM_CHANGES_RETENTION", s)
        .map_err(|e| e.to_string())
}

fn answer_counts_retention(s: &str) -> Result<Duration, String> {
    topten_live::retention::parse_duration("TOPTEN_ANSWER_COUNTS_RETENTION", s)
        .map_err(|e| e.to_string())
}

impl Config {
    /// The retention settings.
    pub fn retention(&self) -> topten_live::retention::Retention {
        topten_live::retention::Retention {
            events: self.events_retention,
            item_changes: self.item_changes_retention,
            answer_counts: self.answer_counts_retention,
        }
    }
}

/// `RETRAIN_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetrainModeSetting {
    /// Activate a passing candidate.
    Activate,
    /// Start an experiment with a passing candidate.
    Experiment,
}

/// `RETRAIN_SOURCE`: where retrain candidates come from when not trained here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrainSource {
    /// The newest complete Spark run under a prefix (`spark:PREFIX`).
    Spark(Location),
}

impl std::str::FromStr for RetrainSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some(("spark", rest)) if !rest.is_empty() => Location::parse(rest)
                .map(RetrainSource::Spark)
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "{s:?}: expected spark:PREFIX (e.g. spark:az://ACCOUNT/CONTAINER/runs/)"
            )),
        }
    }
}

/// Filters defined once in settings and referenced by name (`filter=NAME`), parsed when the
/// handler starts: a malformed one stops the start with its name and the position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedFilters(std::collections::HashMap<String, Filter>);

impl NamedFilters {
    /// The filter named `name`.
    pub fn get(&self, name: &str) -> Option<&Filter> {
        self.0.get(name)
    }
}

impl std::str::FromStr for NamedFilters {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let raw: std::collections::HashMap<String, String> =
            serde_json::from_str(s).map_err(|e| {
                format!("TOPTEN_FILTERS must be a JSON object of names to filters: {e}")
            })?;
        let mut out = std::collections::HashMap::new();
        for (name, text) in raw {
            let f = Filter::parse(&text)
                .map_err(|e| format!("TOPTEN_FILTERS: filter {name:?}: {e}"))?;
            out.insert(name, f);
        }
        Ok(NamedFilters(out))
    }
}

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl std::str::FromStr for ApiKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().len() < 16 {
            return Err("TOPTEN_API_KEY must be at least 16 characters".into());
        }
        Ok(ApiKey(s.trim().to_owned()))
    }
}

/// `TOPTEN_ID_KEY`: the answer-id keys, checked when parsed; never shown in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct IdKeySetting(String);

impl IdKeySetting {
    /// The keys.
    pub fn keys(&self) -> topten_edge::answer_id::IdKeys {
        topten_edge::answer_id::IdKeys::from_setting(&self.0).expect("checked when parsed")
    }
}

impl std::fmt::Debug for IdKeySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdKeySetting(<redacted>)")
    }
}

impl std::str::FromStr for IdKeySetting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        topten_edge::answer_id::IdKeys::from_setting(s)
            .map_err(|e| format!("TOPTEN_ID_KEY: {e}"))?;
        Ok(IdKeySetting(s.to_owned()))
    }
}

/// Parses a secret setting without ever repeating the value in an error (clap's own message
/// for a rejected value quotes it).
#[derive(Clone)]
pub struct SecretParser<T>(std::marker::PhantomData<T>);

impl<T> SecretParser<T> {
    /// The parser.
    pub fn new() -> Self {
        SecretParser(std::marker::PhantomData)
    }
}

impl<T> Default for SecretParser<T> {
    fn default() -> Self {
        SecretParser::new()
    }
}

impl<T> clap::builder::TypedValueParser for SecretParser<T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<T, clap::Error> {
        let refuse = |m: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{m} (the value given is not shown)\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("the value is not valid UTF-8"))?;
        text.parse::<T>().map_err(|m| refuse(&m))
    }
}

impl Default for Config {
    /// The documented defaults (the same as the flags' defaults; a test checks they agree).
    fn default() -> Self {
        Config {
            store_uri: "embedded:./data/topten.db".into(),
            unknown_user: UnknownUser::Popular,
            default_k: 10,
            max_k: 100,
            max_id_len: 128,
            active_ttl_ms: 1000,
            request_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 5_000,
            max_body_bytes: 1 << 20,
            max_uri_bytes: 8 * 1024,
            max_header_bytes: 32 * 1024,
            log_requests: false,
            api_key: None,
            id_key: None,
            training_input: Vec::new(),
            training_items: None,
            retrain_source: None,
            retrain_mode: RetrainModeSetting::Activate,
            retrain_experiment_share: 0.1,
            filters: None,
            retrain_model: Feedback::Implicit,
            retrain_params: None,
            quality_metric: TargetMetric::NdcgAtK,
            quality_tolerance: 0.02,
            items_per_user: 50,
            model_root: Location::Local("./data/models".into()),
            attribution_window_hours: 24.0,
            positive_rating: 4.0,
            repeat_limit: 3,
            item_fold_in_secs: 10,
            item_fold_in_below: topten_live::item_fold_in::DEFAULT_BELOW,
            new_item_slots: 1,
            new_item_days: 7.0,
            counts_save_secs: 10,
            events_retention: None,
            item_changes_retention: None,
            answer_counts_retention: None,
            protect_reads: false,
        }
    }
}

impl Config {
    /// Checks what the flags' types cannot: ranges and the retrain hyperparameters file. Every
    /// entry point calls it before serving, so a bad setting stops the start with its name.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("TOPTEN_DEFAULT_K", self.default_k),
            ("TOPTEN_MAX_K", self.max_k),
            ("TOPTEN_MAX_ID_LEN", self.max_id_len),
            ("ITEMS_PER_USER", self.items_per_user),
            ("TOPTEN_MAX_BODY_BYTES", self.max_body_bytes),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.default_k > self.max_k {
            return Err(format!(
                "TOPTEN_DEFAULT_K ({}) is larger than TOPTEN_MAX_K ({})",
                self.default_k, self.max_k
            ));
        }
        if !self.quality_tolerance.is_finite() {
            return Err(format!(
                "QUALITY_TOLERANCE must be a number, got {}",
                self.quality_tolerance
            ));
        }
        let min = topten_store::lifecycle::MIN_EXPERIMENT_SHARE;
        if !(min..=1.0).contains(&self.retrain_experiment_share) {
            return Err(format!(
                "RETRAIN_EXPERIMENT_SHARE must be from {min} to 1, got {}",
                self.retrain_experiment_share
            ));
        }
        if !(self.attribution_window_hours > 0.0 && self.attribution_window_hours <= 24.0 * 366.0) {
            return Err(format!(
                "ATTRIBUTION_WINDOW_HOURS must be above 0 and at most a year, got {}",
                self.attribution_window_hours
            ));
        }
        if !self.positive_rating.is_finite() {
            return Err(format!(
                "POSITIVE_RATING must be a number, got {}",
                self.positive_rating
            ));
        }
        if self.new_item_slots > 10 {
            return Err(format!(
                "TOPTEN_NEW_ITEM_SLOTS must be from 0 to 10 (places of every ten), got {}",
                self.new_item_slots
            ));
        }
        if !(self.new_item_days.is_finite() && self.new_item_days > 0.0) {
            return Err(format!(
                "TOPTEN_NEW_ITEM_DAYS must be a number of days above 0, got {}",
                self.new_item_days
            ));
        }
        if self.counts_save_secs == 0 {
            return Err("TOPTEN_COUNTS_SAVE_SECS must be at least 1".into());
        }
        if let Some(path) = &self.retrain_params {
            crate::retrain::choose_params(Some(path), self.retrain_model)
                .map_err(|e| format!("RETRAIN_PARAMS: {e}"))?;
        }
        Ok(())
    }

    /// What attribution follows.
    pub fn attribution_rules(&self) -> topten_live::attribution::Rules {
        topten_live::attribution::Rules {
            window_ms: (self.attribution_window_hours * 3_600_000.0) as i64,
            positive_rating: self.positive_rating,
        }
    }

    /// How fold-in shapes users' lists.
    pub fn list_rules(&self) -> topten_live::realtime::ListRules {
        topten_live::realtime::ListRules {
            items_per_user: self.items_per_user,
            repeat_limit: self.repeat_limit,
            attribution: self.attribution_rules(),
        }
    }

    /// Which items live events fold in.
    pub fn item_fold_in_rules(&self) -> topten_live::item_fold_in::ItemFoldInRules {
        topten_live::item_fold_in::ItemFoldInRules {
            below: self.item_fold_in_below,
            ..Default::default()
        }
    }

    /// The shortest time between two solves of one item on an instance.
    pub fn item_fold_in_interval(&self) -> Duration {
        Duration::from_secs(self.item_fold_in_secs)
    }

    /// The active-pointer cache lifetime.
    pub fn active_ttl(&self) -> Duration {
        Duration::from_millis(self.active_ttl_ms)
    }
}
