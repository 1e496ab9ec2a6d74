import Foundation

/// A dedicated OS thread that runs blocking work submitted from async code.
///
/// libpq calls block on network I/O. They must never run on the Swift concurrency
/// cooperative pool or on an event loop, so every connection owns one of these threads
/// and hops onto it for each libpq call. Jobs run one at a time, in submission order,
/// which also gives the "one task per `PGconn` at a time" guarantee libpq requires.
final class BlockingThread: @unchecked Sendable {
    // Safety: `jobs` and `stopped` are only touched while holding `condition`.
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopped = false

    /// The threads started and not yet returned, process-wide (`waitForAll`).
    private static let live = NSCondition()
    nonisolated(unsafe) private static var liveCount = 0

    init(name: String) {
        Self.live.lock()
        Self.liveCount += 1
        Self.live.unlock()
        let thread = Thread { [self] in
            self.loop()
            Self.live.lock()
            Self.liveCount -= 1
            Self.live.broadcast()
            Self.live.unlock()
        }
        thread.name = name
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped {
                condition.wait()
            }
            if jobs.isEmpty && stopped {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Queues `job`; after `shutdown()` jobs still run until the queue drains.
    func submit(_ job: @escaping () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// Runs `body` on this thread and returns its result to the awaiting task.
    func run<T: Sendable>(_ body: @escaping () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            submit {
                continuation.resume(with: Result { try body() })
            }
        }
    }

    /// Waits until every thread shut down has run its last job (a connection's `PQfinish`),
    /// or until `timeout` seconds have passed; whether none is left. A process calls it
    /// before it exits, so that no libpq call is still running while the process tears
    /// down the libraries it uses.
    static func waitForAll(timeout: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        live.lock()
        defer { live.unlock() }
        while liveCount > 0 {
            if !live.wait(until: deadline) { return liveCount == 0 }
        }
        return true
    }

    /// Lets the thread exit once queued jobs have run.
    func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }
}
