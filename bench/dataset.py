"""A realistic, reproducible dataset: users, a power-law follow graph, friendships, posts over the
last days, reactions and comments, with every counter matching its rows.

One generator (``generate``) streams rows table by table into a writer: ``PostgresWriter`` uses
asyncpg's binary COPY on a freshly migrated database, ``SqliteWriter`` SQLAlchemy core inserts on
a freshly migrated file (embedded mode). The schema always comes from ``townsquare.migrate``;
columns the generator does not set get the model's default (or the database's), so a new column
with a default does not break the bench.

Shape (defaults for 10,000 users):
- user 0 is the "celebrity", followed by every other user (N - 1 followers);
- user 1 is the "author", followed by exactly ``author_followers`` users;
- everyone else follows ~``avg_follows`` accounts (log-normal out-degree) picked by Zipf-like
  popularity (weight rank^-0.8 over a random ranking), so in-degrees are heavy-tailed;
- friendships are random pairs (two symmetric rows each), ~``avg_friends`` per user;
- posts are published over the last ``days`` days (88% public, 12% friends), authors picked by a
  second Zipf-like ranking (activity); ids are UUIDv7 whose time is the publication time;
- reactions and comments per post are log-normal; on friends-only posts they come from the
  author's friends only (nobody acts on a post they may not see).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson
from tqdm import tqdm

CELEBRITY, AUTHOR = 0, 1
REACTION_TYPES = ("like", "love", "laugh", "sad", "angry", "inspired", "grateful", "curious")
REACTION_WEIGHTS = (55, 15, 10, 4, 2, 5, 5, 4)
FRIENDS_SHARE = 0.12
BENCH_PASSWORD = "bench-password-not-secret"
#: The vocabulary of generated posts and comments.
_VOCABULARY = """
the a and of to in is it you that he was for on
are with as his they be at one have this from or had by
word but what some we can out other were all there when up use
your how said an each she which do their time if will way about
many then them write would like so these her long make thing see him
two has look more day could go come did number sound no most people
my over know water than call first who may down side been now find
any new work part take get place made live where after back little only
round man year came show every good me give our under name very through
just form sentence great think say help low line differ turn cause much mean
before move right boy old too same tell does set three want air well
also play small end put home read hand port large spell add even land
here must big high such follow act why ask men change went light kind
off need house picture try us again animal point mother world near build self
earth father coffee garden weekend concert photo morning tonight recipe city trip friends family
music movie book game team match news
"""
WORDS = tuple(_VOCABULARY.split())


@dataclass
class DatasetSpec:
    users: int
    posts: int
    avg_follows: int
    avg_friends: int
    avg_reactions: float
    avg_comments: float
    days: int
    load_users: int
    author_followers: int
    seed: int


@dataclass
class Manifest:
    """What the load generator and the in-process measurements need to know about the data."""

    database_url: str
    spec: dict[str, Any]
    generated_at: str
    generation_seconds: float
    rows: dict[str, int]
    celebrity: dict[str, str]
    author: dict[str, str]
    celebrity_followers: int
    author_followers: int
    #: ``{"id", "username", "session_id"}`` of users with a live session (the load's viewers).
    load_users: list[dict[str, str]]
    #: Usernames of users with public posts (the profile-timeline scenario picks among them).
    profile_usernames: list[str]
    #: Ids of recent public posts (reactions and comments land on them).
    recent_public_posts: list[str]
    follower_stats: dict[str, float] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(asdict(self), option=orjson.OPT_INDENT_2))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        return cls(**orjson.loads(path.read_bytes()))


class Writer(Protocol):
    async def write(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], total: int
    ) -> int: ...

    async def finish(self) -> None: ...


# --- small helpers ------------------------------------------------------------------------------


def uuid7_at(ms: int, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 for the millisecond ``ms`` (RFC 9562 layout), from a seeded generator."""
    rand = rng.getrandbits(74)
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 62) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    return uuid.UUID(int=value)


def lognormal_count(rng: random.Random, mean: float, sigma: float, cap: int) -> int:
    """A heavy-tailed non-negative integer whose mean is about ``mean``."""
    if mean <= 0:
        return 0
    mu = math.log(mean) - sigma * sigma / 2
    return max(0, min(cap, round(rng.lognormvariate(mu, sigma))))


def zipf_cum_weights(n: int, alpha: float) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += rank**-alpha
        out.append(total)
    return out


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def progress(rows: Iterable[Any], table: str, total: int) -> Iterator[Any]:
    return iter(
        tqdm(
            rows,
            total=total,
            desc=f"{table:>16}",
            unit=" rows",
            unit_scale=True,
            mininterval=0.5,
            leave=True,
            dynamic_ncols=True,
        )
    )


# --- the generator ------------------------------------------------------------------------------


class World:
    """The dataset's shape in compact arrays; rows are produced from it table by table."""

    def __init__(self, spec: DatasetSpec, now: datetime, password_hash: str) -> None:
        self.spec = spec
        self.password_hash = password_hash
        self.rng = random.Random(spec.seed)
        self.now = now
        self.now_ms = int(now.timestamp() * 1000)
        n = spec.users
        if n < 10:
            raise ValueError("the dataset needs at least 10 users")
        rng = self.rng
        year_ms = 365 * 86_400_000
        window_ms = spec.days * 86_400_000
        self.window_start_ms = self.now_ms - window_ms
        # Accounts were created during the year before the posting window.
        self.created_ms = array(
            "q", (self.window_start_ms - rng.randrange(year_ms) for _ in range(n))
        )
        self.user_ids = [uuid7_at(ms, rng) for ms in self.created_ms]
        self.usernames = ["bench_celebrity", "bench_author"] + [f"user{i:06d}" for i in range(2, n)]
        self.followers = array("i", bytes(4 * n))
        self.following = array("i", bytes(4 * n))
        self.friends: list[list[int]] = [[] for _ in range(n)]
        self.posts_count = array("i", bytes(4 * n))
        self.sentences = [self._sentence() for _ in range(3000)]
        self._time_pool = [
            to_datetime(self.window_start_ms - rng.randrange(year_ms)) for _ in range(4096)
        ]

    def _sentence(self) -> str:
        words = self.rng.choices(WORDS, k=self.rng.randint(6, 30))
        return " ".join(words).capitalize() + "."

    def _some_time(self) -> datetime:
        return self._time_pool[self.rng.randrange(len(self._time_pool))]

    # --- users and what a registration creates

    def users(self) -> Iterator[tuple[Any, ...]]:
        password_hash = self.password_hash
        for i, user_id in enumerate(self.user_ids):
            created = to_datetime(self.created_ms[i])
            yield (user_id, f"{self.usernames[i]}@bench.townsquare.test", password_hash,
                   created, "active", "user", created, created)  # fmt: skip

    USER_COLUMNS = (
        "id", "email", "password_hash", "email_verified_at", "status", "role", "created_at",
        "updated_at",
    )  # fmt: skip

    def profiles(self) -> Iterator[tuple[Any, ...]]:
        for i, user_id in enumerate(self.user_ids):
            created = to_datetime(self.created_ms[i])
            name = self.usernames[i]
            celebrity = i == CELEBRITY
            yield (user_id, name, name.replace("_", " ").title(), self.sentences[i % 3000],
                   celebrity, "creator" if celebrity else "personal", False, False,
                   created, created)  # fmt: skip

    PROFILE_COLUMNS = (
        "user_id", "username", "display_name", "bio", "is_verified", "account_type",
        "is_private", "is_hidden", "created_at", "updated_at",
    )  # fmt: skip

    def user_only(self) -> Iterator[tuple[Any, ...]]:
        for user_id in self.user_ids:
            yield (user_id,)

    # --- the graph

    def follows(self) -> Iterator[tuple[Any, ...]]:
        """Zipf-like popularity; everybody follows the celebrity; the author gets exactly
        ``author_followers`` followers."""
        spec, rng, n = self.spec, self.rng, self.spec.users
        others = list(range(2, n))
        rng.shuffle(others)
        cum = zipf_cum_weights(len(others), 0.8)
        author_fans = set(rng.sample(range(2, n), min(spec.author_followers, n - 2)))
        mean_random = max(1.0, spec.avg_follows - 1 - len(author_fans) / n)
        ids, created = self.user_ids, self.created_ms
        for u in range(n):
            k = max(1, lognormal_count(rng, mean_random, 0.9, n - 3))
            targets: set[int] = set()
            for t in rng.choices(others, cum_weights=cum, k=k + k // 2 + 4):
                if t != u:
                    targets.add(t)
                    if len(targets) >= k:
                        break
            if u != CELEBRITY:
                targets.add(CELEBRITY)
            if u in author_fans:
                targets.add(AUTHOR)
            self.following[u] = len(targets)
            for t in targets:
                self.followers[t] += 1
                at = max(created[u], created[t]) + rng.randrange(86_400_000)
                yield (uuid7_at(at, rng), ids[u], ids[t], "active", False, to_datetime(at))

    FOLLOW_COLUMNS = (
        "id", "follower_id", "followee_id", "status", "notify_on_post", "created_at",
    )  # fmt: skip

    def expected_follows(self) -> int:
        n = self.spec.users
        return int(n * self.spec.avg_follows)

    def friendships(self) -> Iterator[tuple[Any, ...]]:
        rng, n = self.rng, self.spec.users
        wanted = n * self.spec.avg_friends // 2
        pairs: set[tuple[int, int]] = set()
        attempts = 0
        while len(pairs) < wanted and attempts < wanted * 3:
            attempts += 1
            a, b = rng.randrange(n), rng.randrange(n)
            if a != b:
                pairs.add((a, b) if a < b else (b, a))
        ids, created = self.user_ids, self.created_ms
        for a, b in sorted(pairs):
            self.friends[a].append(b)
            self.friends[b].append(a)
            at = max(created[a], created[b]) + rng.randrange(86_400_000)
            when = to_datetime(at)
            yield (uuid7_at(at, rng), ids[a], ids[b], when)
            yield (uuid7_at(at, rng), ids[b], ids[a], when)

    FRIENDSHIP_COLUMNS = ("id", "user_id", "friend_id", "created_at")

    # --- content

    def plan_posts(self) -> None:
        """Who posts when (sorted by time), with what audience, and how many comments each."""
        spec, rng, n = self.spec, self.rng, self.spec.users
        total = spec.posts
        per_special = min(2 * spec.days, total // 10)
        activity = list(range(2, n))
        rng.shuffle(activity)
        cum = zipf_cum_weights(len(activity), 0.6)
        authors = [CELEBRITY] * per_special + [AUTHOR] * per_special
        authors += rng.choices(activity, cum_weights=cum, k=total - len(authors))
        rng.shuffle(authors)
        span = self.now_ms - 60_000 - self.window_start_ms
        times = sorted(self.window_start_ms + rng.randrange(span) for _ in range(total))
        self.post_author = array("i", authors)
        self.post_ms = array("q", times)
        self.post_friends_only = bytearray(
            1 if rng.random() < FRIENDS_SHARE else 0 for _ in range(total)
        )
        self.post_ids = [uuid7_at(ms, rng) for ms in times]
        self.post_comments = array(
            "i", (self._audience_count(i, spec.avg_comments, 1.3) for i in range(total))
        )

    def _audience(self, post: int) -> Sequence[int] | None:
        """Who may act on a post: None for everybody, else the author's friends."""
        return self.friends[self.post_author[post]] if self.post_friends_only[post] else None

    def _audience_count(self, post: int, mean: float, sigma: float) -> int:
        audience = self._audience(post)
        cap = len(audience) if audience is not None else self.spec.users - 1
        return lognormal_count(self.rng, mean, sigma, cap)

    def _pick_audience(self, post: int, k: int) -> list[int]:
        audience = self._audience(post)
        author = self.post_author[post]
        if audience is None:
            picked = [u for u in self.rng.sample(range(self.spec.users), k + 1) if u != author]
            return picked[:k]
        return self.rng.sample(audience, min(k, len(audience)))

    def _later(self, post: int) -> int:
        """A moment between the post's publication and now (sooner is likelier)."""
        start = self.post_ms[post]
        return start + int((self.now_ms - start) * self.rng.random() ** 3)

    def posts(self) -> Iterator[tuple[Any, ...]]:
        sentences, rng = self.sentences, self.rng
        for i, post_id in enumerate(self.post_ids):
            author = self.post_author[i]
            self.posts_count[author] += 1
            when = to_datetime(self.post_ms[i])
            content = " ".join(rng.choices(sentences, k=rng.randint(1, 3)))
            visibility = "friends" if self.post_friends_only[i] else "public"
            yield (post_id, self.user_ids[author], "text", content, visibility, "published",
                   when, when, when, self.post_comments[i], True, "everyone")  # fmt: skip

    POST_COLUMNS = (
        "id", "author_id", "type", "content", "visibility", "status", "published_at",
        "created_at", "updated_at", "comment_count", "allow_reactions", "comment_permission",
    )  # fmt: skip

    def reactions(self) -> Iterator[tuple[Any, ...]]:
        rng, ids = self.rng, self.user_ids
        self.reaction_totals: list[tuple[int, dict[str, int]]] = []
        for i, post_id in enumerate(self.post_ids):
            k = self._audience_count(i, self.spec.avg_reactions, 1.2)
            if k == 0:
                continue
            counts: dict[str, int] = {}
            kinds = rng.choices(REACTION_TYPES, weights=REACTION_WEIGHTS, k=k)
            for user, kind in zip(self._pick_audience(i, k), kinds, strict=False):
                counts[kind] = counts.get(kind, 0) + 1
                at = self._later(i)
                when = to_datetime(at)
                yield (uuid7_at(at, rng), ids[user], "post", post_id, kind, when, when)
            self.reaction_totals.append((i, counts))

    REACTION_COLUMNS = (
        "id", "user_id", "target_type", "target_id", "type", "created_at", "updated_at",
    )  # fmt: skip

    def reaction_counts(self) -> Iterator[tuple[Any, ...]]:
        for i, counts in self.reaction_totals:
            for kind, count in counts.items():
                yield ("post", self.post_ids[i], kind, count)

    REACTION_COUNT_COLUMNS = ("target_type", "target_id", "type", "count")

    def comments(self) -> Iterator[tuple[Any, ...]]:
        rng, ids, sentences = self.rng, self.user_ids, self.sentences
        for i, post_id in enumerate(self.post_ids):
            k = self.post_comments[i]
            if k == 0:
                continue
            picked = self._pick_audience(i, k)
            # The planned count is a promise (posts.comment_count is already written).
            while len(picked) < k:
                picked.append(self.post_author[i])
            for user in picked:
                at = self._later(i)
                when = to_datetime(at)
                yield (uuid7_at(at, rng), post_id, ids[user], 0,
                       sentences[rng.randrange(len(sentences))][:300], when, when)  # fmt: skip

    COMMENT_COLUMNS = (
        "id", "post_id", "author_id", "depth", "content", "created_at", "updated_at",
    )  # fmt: skip

    # --- sessions and counters

    def pick_load_users(self) -> list[int]:
        n = self.spec.users
        chosen = set(self.rng.sample(range(2, n), min(self.spec.load_users, n - 2)))
        return [CELEBRITY, AUTHOR, *sorted(chosen)]

    def sessions(self, users: Sequence[int]) -> Iterator[tuple[Any, ...]]:
        self.session_ids: dict[int, uuid.UUID] = {}
        now = self.now
        for u in users:
            session_id = uuid7_at(self.now_ms, self.rng)
            self.session_ids[u] = session_id
            yield (session_id, self.user_ids[u], "townsquare-bench", "127.0.0.1", now, now,
                   now + timedelta(days=30))  # fmt: skip

    SESSION_COLUMNS = (
        "id", "user_id", "user_agent", "ip_address", "created_at", "last_used_at", "expires_at",
    )  # fmt: skip

    def user_stats(self) -> Iterator[tuple[Any, ...]]:
        for u, user_id in enumerate(self.user_ids):
            yield (user_id, self.followers[u], self.following[u], len(self.friends[u]),
                   self.posts_count[u])  # fmt: skip

    STATS_COLUMNS = (
        "user_id", "followers_count", "following_count", "friends_count", "posts_count",
    )  # fmt: skip


async def generate(
    spec: DatasetSpec, writer: Writer, database_url: str, *, password_hash: str
) -> Manifest:
    """Write the whole dataset through ``writer``; returns what the load needs to know."""
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    world = World(spec, now, password_hash)
    n = spec.users
    rows: dict[str, int] = {}

    async def put(table: str, columns: Sequence[str], it: Iterable[Any], total: int) -> None:
        rows[table] = rows.get(table, 0) + await writer.write(
            table, columns, progress(it, table, total), total
        )

    await put("users", World.USER_COLUMNS, world.users(), n)
    await put("profiles", World.PROFILE_COLUMNS, world.profiles(), n)
    await put("privacy_settings", ("user_id",), world.user_only(), n)
    await put("user_settings", ("user_id",), world.user_only(), n)
    await put("follows", World.FOLLOW_COLUMNS, world.follows(), world.expected_follows())
    await put("friendships", World.FRIENDSHIP_COLUMNS, world.friendships(), n * spec.avg_friends)
    world.plan_posts()
    await put("posts", World.POST_COLUMNS, world.posts(), spec.posts)
    await put(
        "reactions", World.REACTION_COLUMNS, world.reactions(), int(spec.posts * spec.avg_reactions)
    )
    await put(
        "reaction_counts",
        World.REACTION_COUNT_COLUMNS,
        world.reaction_counts(),
        len(world.reaction_totals) * 3,
    )
    await put("comments", World.COMMENT_COLUMNS, world.comments(), sum(world.post_comments))
    load = world.pick_load_users()
    await put("auth_sessions", World.SESSION_COLUMNS, world.sessions(load), len(load))
    await put("user_stats", World.STATS_COLUMNS, world.user_stats(), n)

    # What the scenarios pick from.
    recent_cut = world.now_ms - 3 * 86_400_000
    recent = [
        str(world.post_ids[i])
        for i in range(len(world.post_ids) - 1, -1, -1)
        if world.post_ms[i] >= recent_cut and not world.post_friends_only[i]
    ][:5000]
    posters = sorted({world.post_author[i] for i in range(len(world.post_ids))})
    rng = random.Random(spec.seed + 1)
    profile_users = rng.sample(posters, min(5000, len(posters)))
    followers = sorted(world.followers)
    manifest = Manifest(
        database_url=database_url,
        spec=asdict(spec),
        generated_at=now.isoformat(),
        generation_seconds=0.0,
        rows=rows,
        celebrity=_who(world, CELEBRITY),
        author=_who(world, AUTHOR),
        celebrity_followers=world.followers[CELEBRITY],
        author_followers=world.followers[AUTHOR],
        load_users=[_who(world, u) for u in load if u not in (CELEBRITY, AUTHOR)],
        profile_usernames=[world.usernames[u] for u in profile_users],
        recent_public_posts=recent,
        follower_stats={
            "mean": sum(followers) / n,
            "median": followers[n // 2],
            "p99": followers[min(n - 1, int(n * 0.99))],
            "max": followers[-1],
            "mean_following": sum(world.following) / n,
            "mean_friends": sum(len(f) for f in world.friends) / n,
        },
    )
    await writer.finish()
    manifest.generation_seconds = round(time.perf_counter() - started, 1)
    return manifest


def _who(world: World, u: int) -> dict[str, str]:
    found = {"id": str(world.user_ids[u]), "username": world.usernames[u]}
    session_id = getattr(world, "session_ids", {}).get(u)
    if session_id is not None:
        found["session_id"] = str(session_id)
    return found


# --- filling the columns the generator leaves out ----------------------------------------------


def column_fill(
    table_name: str, given: Sequence[str], existing: dict[str, bool]
) -> tuple[list[str], tuple[Any, ...]]:
    """Extra (columns, values) for ``table_name``: each NOT NULL column of the database that the
    generator does not set and that has no server default gets the model's Python default.

    ``existing`` maps the database's columns to "needs a value" (NOT NULL and no default)."""
    from townsquare.models import metadata

    table = metadata.tables.get(table_name)
    columns: list[str] = []
    values: list[Any] = []
    for name, needs_value in existing.items():
        if name in given or not needs_value:
            continue
        column = table.columns.get(name) if table is not None else None
        default = getattr(column, "default", None)
        if default is None:
            raise RuntimeError(
                f"bench dataset: {table_name}.{name} is NOT NULL without a default; "
                "teach bench/dataset.py what to put there"
            )
        value = default.arg(None) if default.is_callable else default.arg
        columns.append(name)
        values.append(getattr(value, "value", value))  # StrEnum -> its string
    return columns, tuple(values)


# --- PostgreSQL -----------------------------------------------------------------------------------


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def sqlalchemy_pg_url(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def recreate_postgres_database(admin_url: str, database: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


class PostgresWriter:
    """Binary COPY (``copy_records_to_table``) with foreign-key triggers off for the load: the
    generator's rows are consistent by construction, and the checks would double the time."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: Any = None

    async def start(self) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(self.dsn)
        await self.conn.execute("SET session_replication_role = replica")
        await self.conn.execute("SET synchronous_commit = off")

    async def _columns(self, table: str) -> dict[str, bool]:
        rows = await self.conn.fetch(
            "SELECT column_name, is_nullable, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = $1",
            table,
        )
        return {r["column_name"]: r["is_nullable"] == "NO" and r["column_default"] is None
                for r in rows}  # fmt: skip

    async def write(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], total: int
    ) -> int:
        extra_columns, extra_values = column_fill(table, columns, await self._columns(table))
        records = (row + extra_values for row in rows) if extra_columns else rows
        result = await self.conn.copy_records_to_table(
            table, records=records, columns=[*columns, *extra_columns]
        )
        return int(result.split()[-1])

    async def finish(self) -> None:
        await self.conn.execute("RESET session_replication_role")
        started = time.perf_counter()
        # Fresh statistics and visibility maps: the planner and index-only scans see a database
        # in its steady state, not one just bulk-loaded.
        await self.conn.execute("VACUUM (ANALYZE)")
        print(f"  VACUUM (ANALYZE) took {time.perf_counter() - started:.1f} s")
        await self.conn.close()


# --- SQLite ---------------------------------------------------------------------------------------


class SqliteWriter:
    """SQLAlchemy core ``executemany`` into a migrated SQLite file (types handled by the models'
    column types, exactly as the application stores them)."""

    batch = 5000

    def __init__(self, path: Path) -> None:
        from sqlalchemy import create_engine, event

        self.engine = create_engine(f"sqlite:///{path}")

        @event.listens_for(self.engine, "connect")
        def _fast(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

    async def start(self) -> None:
        return None

    async def write(
        self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], total: int
    ) -> int:
        from sqlalchemy import Table, text

        from townsquare.models import metadata

        with self.engine.begin() as conn:
            info = conn.execute(text(f'PRAGMA table_info("{table}")')).all()
            existing = {r[1]: bool(r[3]) and r[4] is None for r in info}
            extra_columns, extra_values = column_fill(table, columns, existing)
            names = [*columns, *extra_columns]
            target: Table = metadata.tables[table]
            statement = target.insert()
            written = 0
            chunk: list[dict[str, Any]] = []
            for row in rows:
                chunk.append(dict(zip(names, row + extra_values, strict=True)))
                if len(chunk) >= self.batch:
                    conn.execute(statement, chunk)
                    written += len(chunk)
                    chunk = []
                    await asyncio.sleep(0)
            if chunk:
                conn.execute(statement, chunk)
                written += len(chunk)
        return written

    async def finish(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        self.engine.dispose()


async def make_password_hash() -> str:
    """One real argon2id hash (production cost) shared by every bench account, so a person can
    log in as any of them with ``BENCH_PASSWORD``."""
    from townsquare.modules.accounts.passwords import password_hasher

    return await password_hasher(3, 65536).hash(BENCH_PASSWORD)


# --- entry points ---------------------------------------------------------------------------------


async def _generate_with(
    writer: PostgresWriter | SqliteWriter, spec: DatasetSpec, url: str
) -> Manifest:
    await writer.start()
    return await generate(spec, writer, url, password_hash=await make_password_hash())


def build_postgres(spec: DatasetSpec, admin_url: str, database: str) -> Manifest:
    """Drop and recreate ``database``, migrate it, load the dataset."""
    from townsquare import migrate

    started = time.perf_counter()
    asyncio.run(recreate_postgres_database(admin_url, database))
    url = sqlalchemy_pg_url(admin_url, database)
    migrate.upgrade(url)
    print(f"  database {database} created and migrated in {time.perf_counter() - started:.1f} s")
    manifest = asyncio.run(
        _generate_with(PostgresWriter(asyncpg_dsn(admin_url, database)), spec, url)
    )
    manifest.generation_seconds = round(time.perf_counter() - started, 1)
    return manifest


def build_sqlite(spec: DatasetSpec, path: Path) -> Manifest:
    """A fresh migrated SQLite file at ``path`` with the dataset."""
    from townsquare import migrate

    started = time.perf_counter()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    manifest = asyncio.run(_generate_with(SqliteWriter(path), spec, url))
    manifest.generation_seconds = round(time.perf_counter() - started, 1)
    return manifest
