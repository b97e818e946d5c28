// Generated from topten's OpenAPI document by scripts/gen-types.mjs: do not edit.
// `npm test` regenerates it from a live server and fails when it differs.

export type ErrorBody = {
  error: {
    code: "invalid_user_id" | "invalid_k" | "invalid_exclude" | "invalid_query" | "invalid_filter" | "invalid_rank" | "invalid_items" | "invalid_merge" | "merge_into_itself" | "invalid_events" | "invalid_item_id" | "precondition_failed" | "invalid_if_match" | "item_not_found" | "no_item_factors" | "not_supported" | "user_not_found" | "not_found" | "method_not_allowed" | "no_active_version" | "store_unavailable" | "internal" | "unauthorized" | "request_timeout" | "body_too_large" | "uri_too_long" | "unsupported_media_type" | "headers_too_large" | "malformed_request" | "invalid_content_length" | "invalid_transfer_encoding" | "invalid_body" | "invalid_timer_payload" | "server_timeout";
    message: string;
  };
};

export type Events = {
  events: Array<({
    /** makes retries idempotent */
    eventId?: string;
    /** every type but impression */
    itemId: string;
    /** the recommendationId of the answer the event responds to (an impression: whose list was shown). Credited only when it checks (signed by this service, served to this event's user, in a version that exists, listing the item); otherwise the event is stored unattributed. The unsigned r1 form of older releases is accepted and never credited. */
    recommendationId?: string;
    /** epoch seconds (1970 to 2100); default: now */
    timestamp?: number;
    type: "rating";
    userId: string;
    /** required for ratings; other types default to their strength */
    value: number;
  }) | ({
    /** makes retries idempotent */
    eventId?: string;
    /** impression only: the items shown, in order */
    itemIds: Array<string>;
    /** the recommendationId of the answer the event responds to (an impression: whose list was shown). Credited only when it checks (signed by this service, served to this event's user, in a version that exists, listing the item); otherwise the event is stored unattributed. The unsigned r1 form of older releases is accepted and never credited. */
    recommendationId?: string;
    /** epoch seconds (1970 to 2100); default: now */
    timestamp?: number;
    type: "impression";
    userId: string;
  }) | ({
    /** makes retries idempotent */
    eventId?: string;
    /** every type but impression */
    itemId: string;
    /** the recommendationId of the answer the event responds to (an impression: whose list was shown). Credited only when it checks (signed by this service, served to this event's user, in a version that exists, listing the item); otherwise the event is stored unattributed. The unsigned r1 form of older releases is accepted and never credited. */
    recommendationId?: string;
    /** epoch seconds (1970 to 2100); default: now */
    timestamp?: number;
    type: "view" | "click" | "like" | "add_to_cart" | "purchase";
    userId: string;
    /** required for ratings; other types default to their strength */
    value?: number;
  })>;
};

export type EventsAccepted = {
  accepted?: number;
  /** positive events of the batch attributed to an answer (retries not counted) */
  attributed?: number;
  duplicates?: number;
  /** items whose factors this batch's events solved (new items and items trained from few interactions; each at most once per TOPTEN_ITEM_FOLD_IN_SECS, later events then solve it when that has passed) */
  itemsFoldedIn?: Array<string>;
  modelVersion?: string | null;
  refreshed?: Array<string>;
  stored?: number;
  /** events whose recommendationId did not check, by reason (malformed, signature, unknown_version, not_listed, outside_window): stored, never credited */
  unattributedIds?: Record<string, number>;
};

export type Health = {
  activatedAt?: string | null;
  activeVersion?: string | null;
  detail?: string | null;
  reason?: "store_unreachable" | "no_active_version" | "version_unreadable" | null;
  status?: "ok" | "unavailable";
  store?: {
    backend?: string;
    error?: string | null;
    reachable?: boolean;
  };
  version?: string;
};

export type Item = {
  attributes?: Record<string, unknown>;
  available: boolean;
  categories?: Array<string>;
  expiresAt?: string;
  itemId: string;
  /** available, not withdrawn and not expired */
  servable: boolean;
  title?: string;
  withdrawn: boolean;
};

export type ItemChange = {
  /** values are numbers, strings or booleans; null removes the attribute; names of at most 64 characters; an item keeps at most 1000 attributes */
  attributes?: Record<string, number | string | boolean | null>;
  available?: boolean;
  categories?: Array<string>;
  /** RFC 3339; null removes the expiry */
  expiresAt?: string | null;
  title?: string;
};

export type ItemChanges = {
  items: Array<{
    /** values are numbers, strings or booleans; null removes the attribute; names of at most 64 characters; an item keeps at most 1000 attributes */
    attributes?: Record<string, number | string | boolean | null>;
    available?: boolean;
    categories?: Array<string>;
    /** RFC 3339; null removes the expiry */
    expiresAt?: string | null;
    itemId: string;
    title?: string;
  }>;
};

export type Recommendations = {
  items: Array<{
    because?: Array<{
      itemId?: string;
      weight?: number;
    }>;
    itemId: string;
    /** why the item holds its place when not by its score alone: new, a place kept for new items (TOPTEN_NEW_ITEM_SLOTS) */
    reason?: "new";
    score: number;
    title?: string;
  }>;
  modelVersion: string;
  /** this answer's signed id, r2:VERSION:ARM:STAMP:SCOPE:ITEMS:MAC (ARM is control, candidate or - outside experiments); send it back with events of the same user about its items (docs/guide.md, Signed recommendation ids) */
  recommendationId?: string;
  source: "personalized" | "popular" | "trending";
  userId: string;
};

export type Similar = {
  itemId?: string;
  items?: Array<{
    itemId?: string;
    score?: number;
    title?: string;
  }>;
  modelVersion?: string;
  recommendationId?: string;
};

export type Stats = {
  activeVersion?: string | null;
  /** how much of the active version's catalogue the window's shown answers covered */
  coverage?: {
    catalogueItems?: number | null;
    itemsShown?: number;
    share?: number | null;
  };
  eventsPerMinute: Array<{
    events?: number;
    minuteMs?: number;
  }>;
  /** the running experiment's report (as topten experiment report --json) */
  experiment?: Record<string, unknown> | null;
  fromMs: number;
  generatedAt: string;
  /** set when the versions' figures come from different holdouts, which do not compare */
  holdoutNote?: string | null;
  hourly: Array<{
    answers?: number;
    answersClicked?: number;
    answersConverted?: number;
    answersShown?: number;
    arm?: "control" | "candidate" | null;
    clicks?: number;
    /** answers with a purchase over answers shown */
    conversionPerAnswer?: number | null;
    conversions?: number;
    /** the hour the answers were served */
    hourMs?: number;
    impressions?: number;
    /** shown items clicked over items shown (impressions' itemIds); null without impressions */
    itemCtr?: number | null;
    itemsClicked?: number;
    itemsShown?: number;
    /** answers with at least one click over answers shown */
    listCtr?: number | null;
    /** what answers shown are: answers with an impression, or (without impressions) answers served */
    rateBasis?: "impressions" | "answers";
    version?: string;
  }>;
  hours: number;
  /** ended experiments, most recent first, with their verdicts */
  pastExperiments?: Array<{
    candidate?: string;
    control?: string;
    decidedBy?: string;
    decision?: string;
    endedAt?: string;
    id?: string;
    share?: number;
    startedAt?: string;
    summary?: string;
    winner?: string | null;
  }>;
  toMs: number;
  /** the most shown items of the window (impressions), with titles */
  topItems?: Array<{
    /** of those, answers where it got a positive event */
    clicked?: number;
    /** clicked / shown */
    itemCtr?: number;
    itemId?: string;
    /** its share of all shown slots (0 to 1) */
    share?: number;
    /** answers that showed it */
    shown?: number;
    title?: string | null;
  }>;
  totals: Array<{
    answers?: number;
    answersClicked?: number;
    answersConverted?: number;
    answersShown?: number;
    clicks?: number;
    /** answers with a purchase over answers shown */
    conversionPerAnswer?: number | null;
    conversions?: number;
    impressions?: number;
    /** shown items clicked over items shown (impressions' itemIds); null without impressions */
    itemCtr?: number | null;
    itemsClicked?: number;
    itemsShown?: number;
    /** answers with at least one click over answers shown */
    listCtr?: number | null;
    /** what answers shown are: answers with an impression, or (without impressions) answers served */
    rateBasis?: "impressions" | "answers";
    version?: string;
  }>;
  versions: Array<{
    createdAt?: string;
    /** the headline holdout figure and what it was measured on */
    holdout?: {
      description?: string;
      fingerprint?: string | null;
      k?: number | null;
      /** a letter per distinct holdout among the versions; ? when not recorded */
      label?: string;
      madeBy?: string | null;
      ndcg?: number | null;
      refitted?: boolean | null;
      testInteractions?: number | null;
    };
    /** offline metrics the version was published with */
    metrics?: Record<string, unknown>;
    /** the quality-gate decision (retrains) */
    quality?: Record<string, unknown> | null;
    status?: string;
    users?: number;
    version?: string;
  }>;
};

/** Every stable error code the API answers with. */
export type ErrorCode = "invalid_user_id" | "invalid_k" | "invalid_exclude" | "invalid_query" | "invalid_filter" | "invalid_rank" | "invalid_items" | "invalid_merge" | "merge_into_itself" | "invalid_events" | "invalid_item_id" | "precondition_failed" | "invalid_if_match" | "item_not_found" | "no_item_factors" | "not_supported" | "user_not_found" | "not_found" | "method_not_allowed" | "no_active_version" | "store_unavailable" | "internal" | "unauthorized" | "request_timeout" | "body_too_large" | "uri_too_long" | "unsupported_media_type" | "headers_too_large" | "malformed_request" | "invalid_content_length" | "invalid_transfer_encoding" | "invalid_body" | "invalid_timer_payload" | "server_timeout";

/** 200 answer of POST /api/items. */
export type ItemsPostResponse = {
  items?: Array<Item>;
};

/** Body of POST /api/recommendations/{userId}/rank. */
export type RankPostBody = {
  itemIds: Array<string>;
};

/** 200 answer of POST /api/recommendations/{userId}/rank. */
export type RankPostResponse = {
  items?: Array<{
    itemId: string;
    score: number | null;
    /** the user has the item (training history or a live event): unscored, last */
    seen: boolean;
    title?: string;
  }>;
  modelVersion?: string;
  recommendationId?: string;
  userId?: string;
};

/** 200 answer of GET /api/items/trending. */
export type TrendingGetResponse = {
  items?: Array<{
    itemId?: string;
    score?: number;
    title?: string;
  }>;
  modelVersion?: string;
  window?: string;
};

/** 200 answer of GET /api/users/{userId}/data. */
export type UserDataGetResponse = {
  attributedEvents: number;
  events: Array<Record<string, unknown>>;
  experiment: Record<string, unknown> | null;
  histories: Array<{
    items: Array<Array<unknown>>;
    version: string;
  }>;
  lists: Array<{
    createdAt: string;
    items: Array<Record<string, unknown>>;
    serving: boolean;
    version: string;
  }>;
  tombstone: Record<string, unknown> | null;
  userId: string;
};

/** 200 answer of DELETE /api/users/{userId}. */
export type UserDeleteResponse = {
  /** events deleted (interactions and impressions, with their attribution) */
  events: number;
  /** the tombstone's time, epoch milliseconds */
  forgottenMs: number;
  /** versions in which the user's training history was deleted */
  histories: number;
  /** versions in which the user's list was deleted */
  lists: number;
  userId: string;
  versions: number;
};

/** Body of POST /api/users/{userId}/merge. */
export type UserMergePostBody = {
  /** the session id the visitor's events were sent under */
  from: string;
};

/** 200 answer of POST /api/users/{userId}/merge. */
export type UserMergePostResponse = {
  forgotten: {
    /** events deleted (interactions and impressions, with their attribution) */
    events: number;
    /** the tombstone's time, epoch milliseconds */
    forgottenMs: number;
    /** versions in which the user's training history was deleted */
    histories: number;
    /** versions in which the user's list was deleted */
    lists: number;
    userId: string;
    versions: number;
  };
  from: string;
  /** session events stored as the user's (0 on a retry) */
  moved: number;
  /** whether the user's list was folded in afresh */
  refreshed: boolean;
  userId: string;
};
