"""A fake Ray for the Ray engine's tests (no cluster): actors run their default group's calls
one at a time in the order made, other concurrency groups at once; a starved actor runs its
queue only when the test says; a dead one fails every call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vigil.runtime.camera_actor import CandidateOutbox, PublishedGallery
from vigil.runtime.wire import ActorReport, ActorSpec, GalleryRelease, Receipt
from vigil.sources.worker import CameraState, CameraStatus
from vigil.timeutil import utcnow


class FakeRef:
    """An object ref of the fake: set once the call ran."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.done = False
        self.value: Any = None
        self.error: Exception | None = None


class _Method:
    def __init__(self, handle: FakeHandle, name: str, group: str | None = None) -> None:
        self.handle, self.name, self.group = handle, name, group

    def options(self, concurrency_group: str) -> _Method:
        return _Method(self.handle, self.name, concurrency_group)

    def remote(self, *args: Any) -> FakeRef:
        return self.handle.actor.call(self.name, args, self.group, self.handle.groups)


@dataclass
class FakeActor:
    """A camera actor as Ray runs it: calls of the default group one at a time in the order
    made (a queue), each other concurrency group on a thread of its own (at once here). A
    ``starved`` actor runs its queue only when the test says (:meth:`run`)."""

    spec: ActorSpec
    outbox: CandidateOutbox = field(default_factory=lambda: CandidateOutbox(10, "inc1"))
    gallery: PublishedGallery = field(default_factory=lambda: PublishedGallery("dlib"))
    lose_acks: bool = False
    stopped: bool = False
    starved: bool = False  # too busy to answer: the queue waits for run()
    dead: bool = False  # every call fails
    queue: list[tuple[FakeRef, tuple[Any, ...]]] = field(default_factory=list)

    def call(
        self, name: str, args: tuple[Any, ...], group: str | None, groups: dict[str, int]
    ) -> FakeRef:
        ref = FakeRef(name)
        if group is not None:
            assert group in groups, f"Ray kills an actor called in an unknown group {group!r}"
            self._execute(ref, args)
            return ref
        self.queue.append((ref, args))
        if not self.starved:
            self.run()
        return ref

    def run(self, calls: int | None = None) -> None:
        """Run the oldest ``calls`` queued calls (all when None)."""
        while self.queue and (calls is None or calls > 0):
            ref, args = self.queue.pop(0)
            self._execute(ref, args)
            calls = None if calls is None else calls - 1

    def queued(self, *methods: str) -> int:
        return sum(ref.method in methods for ref, _ in self.queue)

    def _execute(self, ref: FakeRef, args: tuple[Any, ...]) -> None:
        try:
            if self.dead:
                raise RuntimeError("the actor died")
            ref.value = getattr(self, ref.method)(*args)
        except Exception as exc:
            ref.error = exc
        ref.done = True

    def report(self) -> Any:
        release = self.gallery.release
        now = utcnow()
        status = CameraStatus(
            self.spec.camera.name, "x", "file", CameraState.CONNECTED, now, 5, 5, 1, 1, 0, 0,
            0, 0, None, now, None, 5.0, node="10.0.0.7",
        )  # fmt: skip
        return ActorReport(
            status, "n1", "10.0.0.7", self.outbox.incarnation,
            release.version if release else 0, release.origin if release else "",
            release.published_at if release else None,
            len(release.snapshot.entries) if release else 0,
            self.outbox.pending, self.outbox.dropped, 1, None,
        )  # fmt: skip

    def take(self, limit: int) -> Any:
        return self.outbox.take(limit)

    def acknowledge(self, receipt: Receipt) -> None:
        if not self.lose_acks:
            self.outbox.acknowledge(receipt)

    def set_gallery(self, release: GalleryRelease) -> int:
        self.gallery.install(release)
        return release.version

    def preview_jpeg(self, blur: bool) -> bytes:
        return b"blurred" if blur else b"raw"

    def stop(self) -> bool:
        self.stopped = True
        return True


class FakeHandle:
    def __init__(self, actor: FakeActor, groups: dict[str, int]) -> None:
        self.actor = actor
        self.groups = groups  # the concurrency groups the actor class was made with

    def __getattr__(self, name: str) -> _Method:
        return _Method(self, name)


class FakeRay:
    def __init__(self) -> None:
        self.actors: dict[str, FakeActor] = {}
        self.options_seen: list[dict[str, Any]] = []
        self.killed: list[str] = []
        self.groups: dict[str, int] = {}
        self.now = 1000.0  # the supervisor's clock (monotonic seconds), moved by the tests
        self.util = self

    def put(self, value: Any) -> Any:
        return value

    def get(self, ref: FakeRef, timeout: float | None = None) -> Any:
        if not ref.done:
            raise TimeoutError("the actor did not answer in time")
        if ref.error is not None:
            raise ref.error
        return ref.value

    def wait(
        self, refs: list[FakeRef], num_returns: int, timeout: float | None = None
    ) -> tuple[list[FakeRef], list[FakeRef]]:
        ready = [r for r in refs if r.done][:num_returns]
        return ready, [r for r in refs if r not in ready]

    def kill(self, handle: FakeHandle, no_restart: bool) -> None:
        self.killed.append(handle.actor.spec.camera.name)

    def list_named_actors(self, all_namespaces: bool) -> list[dict[str, str]]:
        return [{"name": f"camera:{n}", "namespace": "vigil"} for n in self.actors] + [
            {"name": "camera:other", "namespace": "another-deployment"}
        ]

    def get_actor(self, name: str, namespace: str) -> FakeHandle:
        return FakeHandle(self.actors[name.removeprefix("camera:")], self.groups)

    def remote(
        self, cls: type | None = None, concurrency_groups: dict[str, int] | None = None
    ) -> Any:
        if cls is None:  # ray.remote(**options)(cls)
            return lambda cls: self.remote(cls, concurrency_groups or {})
        fake, groups = self, concurrency_groups or {}

        class Factory:
            def options(self, **options: Any) -> Any:
                fake.options_seen.append(options)
                return self

            def remote(self, spec: ActorSpec) -> FakeHandle:
                actor = FakeActor(spec)
                fake.actors[spec.camera.name] = actor
                fake.groups = groups
                return FakeHandle(actor, groups)

        return Factory()
