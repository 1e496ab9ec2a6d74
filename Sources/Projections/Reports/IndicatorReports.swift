import EventStore
import Foundation
import GrantDomain
import PostgresClient

// Sign-offs, restatements and progress against targets (docs/domain.md §9-§10), from the
// I.3 read model.

/// How a signed-off figure moved for one organisation between the sign-off and now.
public struct RestatementChange: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Codable {
        case added, removed, moved, channels
    }

    /// Why: a new qualifying access, or the cancellation of one that qualified before.
    public struct Cause: Sendable, Hashable, Codable {
        public var position: Int64
        public var type: String
        public var recordedAt: String
        public var businessDate: BusinessDate
        public var grantId: String?
        public var subGrantId: String?
    }

    public var organisationId: String
    public var change: Kind
    public var was: I3Place?
    public var now: I3Place?
    public var wasChannels: [AccessChannel]?
    public var nowChannels: [AccessChannel]?
    public var causes: [Cause]
}

/// A sign-off against the figures at a later cut-off (docs/domain.md §9).
public struct Restatement: Sendable, Encodable {
    public struct Period: Sendable, Encodable {
        public var from: BusinessDate
        public var to: BusinessDate
    }
    public struct Filters: Sendable, Encodable {
        @NullEncoded public var programme: String?
        @NullEncoded public var callId: String?
    }
    public struct SignedOff: Sendable, Encodable {
        public var position: Int64
        public var signedOffOn: BusinessDate
        public var actor: String?
        public var total: Int
        public var hash: String
        /// The Merkle tree the signed figures stand on (absent for sign-offs older than it).
        public var treeSize: Int64?
        public var rootHash: String?
    }
    public struct Current: Sendable, Encodable {
        public var position: Int64
        public var recordedAt: String?
        public var hash: String
        public var total: Int
        public var treeSize: Int64?
        public var rootHash: String?
    }
    /// current − signed-off for the total and every key of every margin, zeros included.
    public struct Delta: Sendable, Encodable {
        public var total: Int
        var margins: [(name: String, counts: [(key: String, count: Int)])]

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.encode(total, forKey: AnyKey("total"))
            for (name, counts) in margins { try c.encode(CountObject(counts), forKey: AnyKey(name)) }
        }

        /// The delta of one key of one margin.
        public func value(_ margin: String, _ key: String) -> Int {
            margins.first { $0.name == margin }?.counts.first { $0.key == key }?.count ?? 0
        }
    }

    public var reportId: String
    public var indicator: Indicator
    public var period: Period
    public var filters: Filters
    public var signedOff: SignedOff
    public var current: Current
    public var delta: Delta
    public var changes: [RestatementChange]

    /// The figures signed off (as recorded) and now, for callers that check the arithmetic.
    public var signedOffFigures: I3Figures
    public var currentFigures: I3Figures

    enum CodingKeys: String, CodingKey {
        case reportId, indicator, period, filters, signedOff, current, delta, changes
    }
}

/// A coding key for any string.
struct AnyKey: CodingKey {
    var stringValue: String
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// Progress against every target in force at a cut-off (docs/domain.md §10).
public struct I3Progress: Sendable, Encodable {
    public struct ShareProgress: Sendable, Hashable, Encodable {
        public var minimum: Share
        /// The value's count ÷ `actual`, with exactly 4 decimals; nil (null) when `actual` is 0.
        @NullEncoded public var actual: Ratio?
    }
    /// One target with its actual figure; every key is present, null where there is no value.
    public struct TargetProgress: Sendable, Encodable {
        public var targetId: String
        public var indicator: Indicator
        @NullEncoded public var programme: String?
        public var period: Restatement.Period
        @NullEncoded public var baseline: Int64?
        @NullEncoded public var baselineNote: String?
        public var target: Int64
        public var actual: Int
        /// actual ÷ target, 4 decimals; nil (null) when the target is 0.
        @NullEncoded public var achieved: Ratio?
        public var shares: [String: [String: ShareProgress]]
        /// Where the revision in force was recorded.
        public var recorded: Recorded
    }

    public var asOf: AsOf
    public var targets: [TargetProgress]
}

extension I3Progress.TargetProgress {
    /// The target's revision `record` against `figures` (the target's period and programme).
    public init(_ record: TargetRecord, figures: I3Figures) {
        let target = record.base
        let actual = figures.total
        var shares: [String: [String: I3Progress.ShareProgress]] = [:]
        for (name, minimums) in target.minimumShares ?? [:] {
            guard let dimension = ShareDimension(rawValue: name) else { continue }
            for (value, minimum) in minimums {
                shares[name, default: [:]][value] = I3Progress.ShareProgress(
                    minimum: minimum, actual: Ratio(dimension.count(of: value, in: figures), over: actual))
            }
        }
        self.init(
            targetId: target.targetId, indicator: target.indicator, programme: target.programme,
            period: .init(from: target.from, to: target.to), baseline: target.baseline,
            baselineNote: target.baselineNote, target: target.target, actual: actual,
            achieved: Ratio(actual, over: Int(target.target)), shares: shares, recorded: record.recorded)
    }

    /// The same target with its actual figures from `figures` (folded from the log).
    public func recomputed(with figures: (I3Query) -> I3Figures) -> Self {
        let query = I3Query(from: period.from, to: period.to, programme: programme, callId: nil)
        var copy = self
        let fresh = figures(query)
        copy.actual = fresh.total
        copy.achieved = Ratio(fresh.total, over: Int(target))
        for (name, values) in shares {
            guard let dimension = ShareDimension(rawValue: name) else { continue }
            for (value, share) in values {
                copy.shares[name]?[value] = I3Progress.ShareProgress(
                    minimum: share.minimum, actual: Ratio(dimension.count(of: value, in: fresh), over: fresh.total))
            }
        }
        return copy
    }
}

extension I3Reporter {
    /// Every I.3 sign-off recorded at or before the cut-off, in the order they were recorded.
    public func signOffs(cutOff: CutOff = .head) async throws -> (asOf: AsOf, signOffs: [SignOffRecord]) {
        let cut = try await readModelCut(cutOff)
        return try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT doc::text FROM rm_i3.sign_offs WHERE position <= \(cut) ORDER BY position")
            let decoder = JSONDecoder()
            let records = try rows.map {
                try decoder.decode(SignOffRecord.self, from: Data(try $0.decode(String.self, 0).utf8))
            }.filter { $0.base.indicator == .i3 }
            return (try await Self.asOf(cut, on: connection), records)
        }
    }

    /// One sign-off, as the log records it; nil when no sign-off has that id.
    public func signOff(_ reportId: String) async throws -> SignOffRecord? {
        try await recordedSignOff(reportId)
    }

    /// The sign-off read from its stream in the log, not from the read model (which the
    /// application role can write): the figures a restatement starts from are the ones
    /// recorded, hashed and receipted (docs/domain.md §14).
    func recordedSignOff(_ reportId: String) async throws -> SignOffRecord? {
        try await IndicatorEngine.recordedSignOff(reportId, pool: pool)
    }

    /// The sign-off `reportId` against the figures at `cutOff` (default: the head).
    /// - Throws: `DomainError.notFound` for an unknown report, `.invalid` for a cut-off
    ///   before the sign-off's position or beyond the head.
    public func restatement(_ reportId: String, cutOff: CutOff = .head) async throws -> Restatement {
        guard let record = try await recordedSignOff(reportId) else {
            throw DomainError(.notFound, "sign-off \"\(reportId)\" does not exist")
        }
        let cut = try await readModelCut(cutOff)
        return try await pool.withConnection { connection in
            let signOff = record.base
            let before = signOff.position
            guard cut >= before else {
                throw DomainError(
                    .notFound,
                    "asOf \(cut) is before the sign-off's position \(before); a restatement looks forward from it")
            }
            let asOf = try await Self.asOf(cut, on: connection)
            let query = signOff.query
            // Only organisations with an access recorded or cancelled in between can change.
            let candidates = try await connection.query(
                """
                SELECT DISTINCT organisation_id FROM rm_i3.accesses
                WHERE (position > \(before) AND position <= \(cut))
                   OR (cancelled_position > \(before) AND cancelled_position <= \(cut))
                """
            ).map { try $0.decode(String.self, 0) }
            var then: [String: I3OrganisationRow] = [:]
            var now: [String: I3OrganisationRow] = [:]
            let currentFigures: I3Figures
            if let known = knownHead.value, cut <= known {
                // The server's path: both lists and the figure from the in-memory index.
                try await memory.refresh(upTo: known, on: connection)
                for row in memory.organisations(query, filter: I3RowFilter(), cutoff: before, only: candidates) {
                    then[row.organisationId] = row
                }
                for row in memory.organisations(query, filter: I3RowFilter(), cutoff: cut, only: candidates) {
                    now[row.organisationId] = row
                }
                currentFigures = memory.figures(query, cutoff: cut)
            } else {
                try await Self.organisations(
                    query, filter: I3RowFilter(), cutoff: before, schema: "rm_i3", only: candidates, on: connection
                ) { then[$0.organisationId] = $0 }
                try await Self.organisations(
                    query, filter: I3RowFilter(), cutoff: cut, schema: "rm_i3", only: candidates, on: connection
                ) { now[$0.organisationId] = $0 }
                currentFigures = try await Self.figures(query, cutoff: cut, schema: "rm_i3", on: connection)
            }
            var changes: [RestatementChange] = []
            for id in Set(then.keys).union(now.keys).sorted() {
                let was = then[id]
                let current = now[id]
                let kind: RestatementChange.Kind
                switch (was, current) {
                case (nil, .some): kind = .added
                case (.some, nil): kind = .removed
                case (.some(let a), .some(let b)) where a.place != b.place: kind = .moved
                case (.some(let a), .some(let b)) where a.channels != b.channels: kind = .channels
                default: continue
                }
                changes.append(
                    RestatementChange(
                        organisationId: id, change: kind, was: kind == .channels ? nil : was?.place,
                        now: kind == .channels ? nil : current?.place, wasChannels: was?.channels,
                        nowChannels: current?.channels, causes: []))
            }
            try await Self.attachCauses(&changes, query: query, after: before, upTo: cut, on: connection)
            guard let signed = signOff.figures.i3 else {
                throw DomainError(
                    .notFound,
                    "sign-off \"\(reportId)\" is of \(signOff.indicator.rawValue), not I.3 (report restatement)")
            }
            let delta = Restatement.Delta(
                total: currentFigures.total - signed.total,
                margins: zip(currentFigures.margins, signed.margins).map { current, old in
                    (current.name, zip(current.counts, old.counts).map { ($0.key, $0.count - $1.count) })
                })
            return Restatement(
                reportId: signOff.reportId, indicator: signOff.indicator,
                period: .init(from: signOff.from, to: signOff.to),
                filters: .init(programme: signOff.programme, callId: signOff.callId),
                signedOff: .init(
                    position: before, signedOffOn: signOff.signedOffOn, actor: record.recorded.actor,
                    total: signed.total, hash: signOff.asOf.hash, treeSize: signOff.asOf.treeSize,
                    rootHash: signOff.asOf.rootHash),
                current: .init(
                    position: asOf.position, recordedAt: asOf.recordedAt, hash: asOf.hash,
                    total: currentFigures.total, treeSize: asOf.treeSize, rootHash: asOf.rootHash),
                delta: delta, changes: changes, signedOffFigures: signed, currentFigures: currentFigures)
        }
    }

    /// The events in (after, upTo] that made each change: new qualifying accesses of the
    /// organisation, and cancellations of its accesses that qualified at `after`.
    static func attachCauses(
        _ changes: inout [RestatementChange], query: I3Query, after: Int64, upTo: Int64,
        on connection: PostgresConnection
    ) async throws {
        guard !changes.isEmpty else { return }
        let rows = try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT organisation_id, channel, access_date::text, position, cancelled_position, grant_id,
                           sub_grant_id
                    FROM rm_i3.accesses
                    WHERE organisation_id = ANY($1::text[]) AND country = 'KZ' AND small
                      AND access_date BETWEEN $2::date AND $3::date
                      AND ($4::text IS NULL OR programme = $4) AND ($5::text IS NULL OR call_id = $5)
                      AND ((position > $6 AND position <= $7 AND (cancelled_position IS NULL OR cancelled_position > $7))
                           OR (position <= $6 AND cancelled_position > $6 AND cancelled_position <= $7))
                    """,
                bindings: [
                    textArray(changes.map(\.organisationId)), query.from.description, query.to.description,
                    query.programme, query.callId, String(after), String(upTo),
                ]))
        struct Pending {
            var organisationId: String
            var position: Int64
            var cancellation: Bool
            var channel: AccessChannel
            var accessDate: BusinessDate
            var grantId: String?
            var subGrantId: String?
        }
        var pending: [Pending] = []
        for row in rows {
            let position = try row.decode(Int64.self, 3)
            let cancelled = row.text(4).flatMap { Int64($0) }
            let isCancellation = position <= after
            guard let channel = AccessChannel(rawValue: try row.decode(String.self, 1)),
                let date = BusinessDate(try row.decode(String.self, 2))
            else { throw PostgresError(kind: .decoding, message: "unexpected I.3 access row") }
            pending.append(
                Pending(
                    organisationId: try row.decode(String.self, 0),
                    position: isCancellation ? (cancelled ?? position) : position, cancellation: isCancellation,
                    channel: channel, accessDate: date, grantId: row.text(5), subGrantId: row.text(6)))
        }
        // Recording times, and the business date of each cancellation, come from the log.
        let events = try await StoreSession(connection: connection).read(positions: Array(Set(pending.map(\.position))))
        let byPosition = Dictionary(uniqueKeysWithValues: events.map { ($0.position, $0) })
        var causes: [String: [RestatementChange.Cause]] = [:]
        for item in pending {
            guard let event = byPosition[item.position] else { continue }
            var date = item.accessDate
            var type = item.channel == .consortium ? "GrantAwarded" : "SubGrantAwarded"
            if item.cancellation {
                type = event.type
                if case .subGrantCancelled(let c)? = try DomainEvent.decode(type: event.type, data: event.data) {
                    date = c.cancelledOn
                }
            }
            causes[item.organisationId, default: []].append(
                RestatementChange.Cause(
                    position: item.position, type: type, recordedAt: event.recordedAt.rfc3339, businessDate: date,
                    grantId: item.grantId, subGrantId: item.subGrantId))
        }
        for index in changes.indices {
            changes[index].causes = (causes[changes[index].organisationId] ?? []).sorted { $0.position < $1.position }
        }
    }

    /// Every I.3 target in force at the cut-off (the latest revision of each at or before it),
    /// optionally of one programme, with its actual figure, achievement and shares.
    public func progress(programme: String? = nil, cutOff: CutOff = .head) async throws -> I3Progress {
        let cut = try await readModelCut(cutOff)
        return try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT DISTINCT ON (target_id) doc::text FROM rm_i3.targets
                WHERE position <= \(cut) ORDER BY target_id, position DESC
                """)
            let decoder = JSONDecoder()
            var targets: [I3Progress.TargetProgress] = []
            for row in rows {
                let record = try decoder.decode(TargetRecord.self, from: Data(try row.decode(String.self, 0).utf8))
                let target = record.base
                if let programme, target.programme != programme { continue }
                guard target.indicator == .i3 else { continue }
                let figures = try await Self.figures(target.query, cutoff: cut, schema: "rm_i3", on: connection)
                targets.append(I3Progress.TargetProgress(record, figures: figures))
            }
            return I3Progress(asOf: try await Self.asOf(cut, on: connection), targets: targets)
        }
    }
}
