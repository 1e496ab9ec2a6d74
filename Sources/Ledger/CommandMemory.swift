import EventStore
import GrantDomain
import NIOConcurrencyHelpers

/// What the rules read of the log, kept in a process's memory and brought forward from the
/// log's gap-free prefix (docs/architecture.md, "Commands decided from memory").
///
/// A decision from memory reads the state at one position P (`MemoryStateReader`) and is
/// appended only if no entity key it read changed after P (`CommandGuards`, sql/023); when
/// one did, the memory catches up and the command is decided again. Being behind the log
/// therefore costs a retry, never a wrong answer.
///
/// Reads and the application of new events take a lock for a moment each; events are read
/// from the database outside it, one catch-up at a time.
public final class CommandMemory: @unchecked Sendable {
    struct StreamState {
        /// Stored events, decodable or not: the stream's version.
        var version: Int64 = 0
        var events: [DomainEvent] = []
    }

    struct State {
        var position: Int64 = 0
        var streams: [String: StreamState] = [:]
        var awardsByCall: [String: [GrantAwardFacts]] = [:]
        var awardsByConsortium: [String: [GrantAwardFacts]] = [:]
        var grantByContract: [String: String] = [:]
        var applicationsByConsortium: [String: [(applicationId: String, callId: String)]] = [:]
        var subGrantsByGrant: [String: [String]] = [:]
        /// An event that does not read as its type: decisions go to the store, which
        /// refuses what touches it with the reason (the memory's look-ups would not).
        var quarantined = false
        /// The ids of the commands whose events the state holds (from the events' metadata),
        /// as their hashes (`idHash`): a command re-sent with one is answered by the store,
        /// with its first acceptance. A hash, not the id: 8 bytes where an id of 36 characters
        /// takes a heap string of 64, over a million commands. Two ids sharing a hash only
        /// send the later command to the store's locks, which decide it as any other.
        var commandIds: Set<Int> = []

        /// An id's hash in this process (Swift's hashing, seeded per process).
        static func idHash(_ commandId: String) -> Int { commandId.hashValue }

        mutating func apply(_ event: RecordedEvent) {
            position = max(position, event.position)
            if case .object(let metadata)? = JSONParser.parseObject(event.metadata),
                case .string(let commandId)? = metadata["commandId"]
            {
                commandIds.insert(Self.idHash(commandId))
            }
            switch DomainEvent.decodeOrQuarantine(position: event.position, type: event.type, data: event.data) {
            case .unknown: streams[event.streamID, default: StreamState()].version += 1
            case .quarantined:
                streams[event.streamID, default: StreamState()].version += 1
                quarantined = true
            case .event(let decoded): apply(decoded, to: event.streamID)
            }
        }

        /// Applies a command's events as decided.
        mutating func apply(_ events: [DomainEvent], commandId: String?) {
            for event in events { apply(event, to: event.streamID) }
            if let commandId { commandIds.insert(Self.idHash(commandId)) }
        }

        /// Applies an event as decided, before it has a position (a batch's scratch state).
        mutating func apply(_ decoded: DomainEvent, to streamID: String) {
            streams[streamID, default: StreamState()].version += 1
            streams[streamID, default: StreamState()].events.append(decoded)
            switch decoded {
            case .grantAwarded(let award):
                let facts = GrantAwardFacts(award)
                awardsByCall[award.callId, default: []].append(facts)
                awardsByConsortium[award.consortiumId, default: []].append(facts)
                if grantByContract[award.contractNumber] == nil {
                    grantByContract[award.contractNumber] = award.grantId
                }
            case .applicationSubmitted(let submitted):
                applicationsByConsortium[submitted.consortiumId, default: []].append(
                    (submitted.applicationId, submitted.callId))
            case .subGrantAwarded(let award):
                subGrantsByGrant[award.grantId, default: []].append(award.subGrantId)
            default: break
            }
        }
    }

    let store: EventStore
    private let lock = NIOLock()
    private var state = State()
    private var ready = false
    private var catchingUp: Task<Void, any Error>?
    /// A catch-up was asked for while one was reading: it reads once more when done.
    private var again = false
    private var decisions = (fromMemory: 0, refusedOrRetried: 0)
    /// Events read per round trip while catching up.
    static let batch = 5_000

    public init(store: EventStore) {
        self.store = store
    }

    /// True once the memory has read the log's gap-free prefix as it stood at its first
    /// catch-up, and while no event in it is quarantined.
    public var isReady: Bool { lock.withLock { ready && !state.quarantined } }

    /// Commands appended as decided from memory, and commands the memory handed to the
    /// store's locks (rejections to confirm, conditions that kept failing, reads it does not
    /// keep), since the process started.
    public var decisionCounts: (fromMemory: Int, underLocks: Int) {
        lock.withLock { (decisions.fromMemory, decisions.refusedOrRetried) }
    }

    func count(fromMemory: Bool, times: Int = 1) {
        lock.withLock {
            if fromMemory { decisions.fromMemory += times } else { decisions.refusedOrRetried += times }
        }
    }

    /// The position the memory stands at.
    public var position: Int64 { lock.withLock { state.position } }

    /// Reads the events after the memory's position, up to the log's gap-free head. One
    /// catch-up runs at a time; a caller that finds one running waits for it.
    public func catchUp() async throws {
        try await running().value
    }

    /// Starts a catch-up unless one is running, without waiting for it (a failed one is
    /// tried again at the next call).
    public func startCatchingUp() {
        _ = running()
    }

    private func running() -> Task<Void, any Error> {
        lock.withLock {
            if let running = catchingUp {
                // It may have read the log before what the caller wants it to see.
                again = true
                return running
            }
            let task = Task {
                // Runs once the lock is given back, so after `catchingUp` is set.
                defer { self.lock.withLock { self.catchingUp = nil } }
                try await self.readForward()
            }
            catchingUp = task
            return task
        }
    }

    private func readForward() async throws {
        repeat {
            var position = lock.withLock {
                again = false
                return state.position
            }
            while true {
                let events = try await store.readAll(after: position, limit: Self.batch)
                lock.withLock { for event in events { state.apply(event) } }
                guard let last = events.last, events.count == Self.batch else { break }
                position = last.position
            }
            lock.withLock { ready = true }
        } while lock.withLock({ again })
    }

    /// Runs `body` on the state if it still stands at `position` (nil: wherever it stands,
    /// which it returns).
    func read<T>(at position: Int64?, _ body: (StateView) throws -> T) throws -> (T, Int64) {
        try lock.withLock {
            if let position, position != state.position { throw MemoryStateReader.Moved() }
            return (try body(StateView(base: state, overlay: nil)), state.position)
        }
    }

    /// Runs `body` on the state with `overlay` over it, if the state stands at `position`.
    func read<T>(at position: Int64, overlay: State, _ body: (StateView) throws -> T) throws -> T {
        try lock.withLock {
            guard position == state.position else { throw MemoryStateReader.Moved() }
            return try body(StateView(base: state, overlay: overlay))
        }
    }

    /// Whether the memory holds a command with this id: its answer is the store's.
    func knows(commandId: String) -> Bool {
        let hash = State.idHash(commandId)
        return lock.withLock { state.commandIds.contains(hash) }
    }

    /// Applies a committed batch's events (`ScratchState.decided`, at `positions`) as
    /// decided, if nothing came between: the memory still stands at `decidedAt`, no catch-up
    /// is reading, and the batch's first position follows `decidedAt`, so that the memory
    /// still holds every event up to its position. Otherwise it reads the batch back from
    /// the log.
    /// - Returns: whether it applied them (the memory then stands at `positions.upperBound`).
    @discardableResult
    func adopt(
        _ decided: [(events: [DomainEvent], commandId: String?)], decidedAt: Int64, positions: ClosedRange<Int64>
    ) -> Bool {
        let adopted = lock.withLock {
            guard state.position == decidedAt, positions.lowerBound == decidedAt + 1, catchingUp == nil else {
                return false
            }
            for command in decided { state.apply(command.events, commandId: command.commandId) }
            state.position = positions.upperBound
            return true
        }
        if !adopted { startCatchingUp() }
        return adopted
    }
}

/// The state one decision reads: the memory's, and over it (for a command of a batch) the
/// events of the commands decided before it in the batch (`ScratchState`).
struct StateView {
    let base: CommandMemory.State
    let overlay: CommandMemory.State?

    var quarantined: Bool { base.quarantined }

    func events(_ stream: String) -> [DomainEvent] {
        let below = base.streams[stream]?.events ?? []
        guard let above = overlay?.streams[stream]?.events else { return below }
        return below + above
    }

    func version(_ stream: String) -> Int64 {
        (base.streams[stream]?.version ?? 0) + (overlay?.streams[stream]?.version ?? 0)
    }

    func awards(ofCall callId: String) -> [GrantAwardFacts] {
        (base.awardsByCall[callId] ?? []) + (overlay?.awardsByCall[callId] ?? [])
    }

    func awards(ofConsortium consortiumId: String) -> [GrantAwardFacts] {
        (base.awardsByConsortium[consortiumId] ?? []) + (overlay?.awardsByConsortium[consortiumId] ?? [])
    }

    func applications(ofConsortium consortiumId: String) -> [(applicationId: String, callId: String)] {
        (base.applicationsByConsortium[consortiumId] ?? []) + (overlay?.applicationsByConsortium[consortiumId] ?? [])
    }

    func subGrants(ofGrant grantId: String) -> [String] {
        (base.subGrantsByGrant[grantId] ?? []) + (overlay?.subGrantsByGrant[grantId] ?? [])
    }

    func grant(withContractNumber contractNumber: String) -> String? {
        base.grantByContract[contractNumber] ?? overlay?.grantByContract[contractNumber]
    }

    func knows(commandId: String) -> Bool {
        let hash = CommandMemory.State.idHash(commandId)
        return base.commandIds.contains(hash) || overlay?.commandIds.contains(hash) == true
    }
}

/// What a `MemoryStateReader` reads: the process's memory, or a batch's view of it.
protocol DecisionState: AnyObject, Sendable {
    /// Runs `body` on the state if it still stands at `position` (nil: wherever it stands,
    /// which it returns); throws `MemoryStateReader.Moved` when it does not.
    func read<T>(at position: Int64?, _ body: (StateView) throws -> T) throws -> (T, Int64)
}

extension CommandMemory: DecisionState {}

/// The memory at one position with the events of the commands a batch decided so far over
/// it, so that each command of the batch is decided after the ones before it
/// (`CommandHandler.handleBatchFromMemory`). The batch's events are kept apart (the
/// memory is not copied) and have no position until they commit; if the memory moves
/// during the batch's decisions, they are refused (`MemoryStateReader.Moved`).
final class ScratchState: DecisionState, @unchecked Sendable {
    private let memory: CommandMemory
    /// The memory's position the batch is decided at.
    let position: Int64
    private let lock = NIOLock()
    private var overlay = CommandMemory.State()
    private var commands: [(events: [DomainEvent], commandId: String?)] = []

    /// - Parameter previous: a batch decided on the memory as it stands and not yet applied
    ///   to it (committing meanwhile): its commands' events lie under this batch's.
    init(memory: CommandMemory, over previous: ScratchState? = nil) {
        self.memory = memory
        self.position = memory.position
        for command in previous?.decided ?? [] { overlay.apply(command.events, commandId: command.commandId) }
    }

    /// Each command's events as decided, in order.
    var decided: [(events: [DomainEvent], commandId: String?)] { lock.withLock { commands } }

    func read<T>(at position: Int64?, _ body: (StateView) throws -> T) throws -> (T, Int64) {
        if let position, position != self.position { throw MemoryStateReader.Moved() }
        let overlay = lock.withLock { self.overlay }
        return (try memory.read(at: self.position, overlay: overlay, body), self.position)
    }

    /// Applies a command's events, as decided.
    func apply(_ decided: [DomainEvent], commandId: String?) {
        lock.withLock {
            overlay.apply(decided, commandId: commandId)
            commands.append((decided, commandId))
        }
    }

    /// Whether a command with this id was accepted before or earlier in the batch.
    func knows(commandId: String) throws -> Bool {
        try read(at: position) { $0.knows(commandId: commandId) }.0
    }
}

/// A `StateReader` over `CommandMemory` at one position: every answer of one decision comes
/// from the same state, and the keys it read are the decision's guards.
final class MemoryStateReader: StateReader, @unchecked Sendable {
    /// The memory moved on during the decision: decide again.
    struct Moved: Error {}
    /// The decision needs what the memory does not keep: decide under locks instead.
    struct NotInMemory: Error {}

    private let memory: any DecisionState
    private let lock = NIOLock()
    private var position: Int64?
    private var keys: Set<String> = []
    private var versions: [String: Int64] = [:]

    init(memory: any DecisionState) {
        self.memory = memory
    }

    /// Where the decision read (nil before its first read), its keys, and the versions of
    /// the streams it read.
    var reads: (position: Int64?, keys: Set<String>, versions: [String: Int64]) {
        lock.withLock { (position, keys, versions) }
    }

    private func read<T>(key: String?, stream: String? = nil, _ body: (StateView) throws -> T) throws -> T {
        let at = lock.withLock { position }
        let (value, standing) = try memory.read(at: at) { state -> (T, Int64?) in
            (try body(state), stream.map { state.version($0) })
        }
        lock.withLock {
            position = standing
            if let key { keys.insert(key) }
            if let stream, let version = value.1 { versions[stream] = version }
        }
        return value.0
    }

    private func events(_ stream: String) throws -> [DomainEvent] {
        try read(key: stream, stream: stream) { $0.events(stream) }
    }

    func organisation(_ id: String) async throws -> OrganisationProfile? {
        Fold.organisation(try events(Streams.organisation(id)))
    }
    func reportingRules() async throws -> ReportingRules { Fold.reportingRules(try events(Streams.reportingRules)) }
    func call(_ id: String) async throws -> CallState? { Fold.call(try events(Streams.call(id))) }
    func consortium(_ id: String) async throws -> ConsortiumState? {
        Fold.consortium(try events(Streams.consortium(id)))
    }
    func application(_ id: String) async throws -> ApplicationState? {
        Fold.application(try events(Streams.application(id)))
    }
    func grant(_ id: String) async throws -> GrantState? { Fold.grant(try events(Streams.grant(id))) }
    func subGrant(_ id: String) async throws -> SubGrantState? { Fold.subGrant(try events(Streams.subGrant(id))) }
    func activity(_ id: String) async throws -> ActivityState? { Fold.activity(try events(Streams.activity(id))) }

    func indexValue(_ indexId: IndexId, year: Int64) async throws -> RecordIndexValue? {
        var latest: RecordIndexValue?
        for case .indexValueRecorded(let e) in try events(Streams.index(indexId, year)) { latest = e }
        return latest
    }

    func unregisteredOrganisations(_ ids: [String]) async throws -> [String] {
        try read(key: nil) { state in
            ids.filter { id in
                !state.events(Streams.organisation(id)).contains {
                    if case .organisationRegistered = $0 { return true }
                    return false
                }
            }
        }
    }

    func grantAwards(ofCall callId: String) async throws -> [GrantAwardFacts] {
        try read(key: Streams.call(callId)) { $0.awards(ofCall: callId) }
    }

    func grantAwards(ofConsortium consortiumId: String) async throws -> [GrantAwardFacts] {
        try read(key: Streams.consortium(consortiumId)) { $0.awards(ofConsortium: consortiumId) }
    }

    func applications(ofConsortium consortiumId: String, call callId: String) async throws -> [ApplicationState] {
        try read(key: Streams.consortium(consortiumId)) { state in
            state.applications(ofConsortium: consortiumId).filter { $0.callId == callId }.compactMap {
                Fold.application(state.events(Streams.application($0.applicationId)))
            }
        }
    }

    func subGrants(ofGrant grantId: String) async throws -> [SubGrantState] {
        try read(key: Streams.grant(grantId)) { state in
            state.subGrants(ofGrant: grantId).compactMap {
                Fold.subGrant(state.events(Streams.subGrant($0)))
            }
        }
    }

    func grantId(withContractNumber contractNumber: String) async throws -> String? {
        try read(key: "contract:" + contractNumber) { $0.grant(withContractNumber: contractNumber) }
    }

    func indicatorReport(_ reportId: String) async throws -> IndicatorReportSignedOff? {
        for case .indicatorReportSignedOff(let e) in try events(Streams.indicatorReport(reportId)) { return e }
        return nil
    }

    func indicatorTarget(_ targetId: String) async throws -> SetIndicatorTarget? {
        var latest: SetIndicatorTarget?
        for case .indicatorTargetSet(let e) in try events(Streams.indicatorTarget(targetId)) { latest = e }
        return latest
    }

    func textsInClear(ofOrganisation organisationId: String) async throws -> Bool { throw NotInMemory() }
    func logHead() async throws -> Int64 { throw NotInMemory() }
    func indicatorFigures(_ signOff: SignOffIndicatorReport, at position: Int64) async throws
        -> (figures: SignedFigures, asOf: LogPoint)
    { throw NotInMemory() }
}
