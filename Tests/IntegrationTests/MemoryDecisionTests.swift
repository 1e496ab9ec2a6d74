import EventStore
import Foundation
import GrantDomain
import Ledger
import PostgresClient
import Projections
import Testing

@testable import TestSupport

/// A command handler as one process has it: its own pool and, when `fromMemory`, its own
/// memory of the log, with its concurrent commands committed in groups as `serve` does.
private func processHandler(_ db: TestDatabase, fromMemory: Bool) async throws -> CommandHandler {
    // Up to dozens of commands queue on one grant's lock in these races (see LedgerFixture).
    var settings = SessionSettings.standard
    settings.lockTimeout = "60s"
    let pool = ConnectionPool(conninfo: db.appURL, maxConnections: 8, settings: settings)
    let memory = fromMemory ? CommandMemory(store: EventStore(pool: pool)) : nil
    try await memory?.catchUp()
    return CommandHandler(
        pool: pool, signOffFigures: LogFigures.signOffProvider(pool: pool), memory: memory, groupCommit: fromMemory)
}

private func request(_ name: String, _ fields: [String: Any], id: String) throws -> CommandRequest {
    var object = fields
    object["command"] = name
    object["commandId"] = id
    return try CommandRequest.parse(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
}

private func organisation(_ id: String) throws -> CommandRequest {
    try request(
        "registerOrganisation",
        [
            "organisationId": id, "name": id, "country": "KZ", "regionCode": "KZ-61", "settlement": "rural",
            "registrationStatus": "unregistered", "leadershipGender": "women", "kind": "informalGroup",
        ], id: "org-" + id)
}

private func subGrant(_ id: String, grant: String, to organisation: String, amount: String) throws -> CommandRequest {
    try request(
        "awardSubGrant",
        [
            "subGrantId": id, "grantId": grant, "organisationId": organisation, "awardedOn": "2025-04-01",
            "amount": amount, "purpose": "p",
        ], id: "sg-" + id)
}

/// Random commands that compete for the same rules: registrations (some twice), sub-grants
/// against two envelopes (some to organisations not registered yet), cancellations, and
/// grants against one call's budget with contract numbers that collide.
private func randomCommands(seed: UInt64, count: Int) throws -> [CommandRequest] {
    var rng = SeededGenerator(state: seed)
    var commands: [CommandRequest] = []
    for index in 0..<count {
        let id = "c\(seed)-\(index)"
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<3:
            let org = Int.random(in: 0..<12, using: &rng)
            commands.append(
                try request(
                    "registerOrganisation",
                    [
                        "organisationId": "S\(org)", "name": "Small \(org) «\(index)»", "country": "KZ",
                        "regionCode": "KZ-61", "settlement": "rural", "registrationStatus": "unregistered",
                        "leadershipGender": "women", "kind": "informalGroup",
                    ], id: id))
        case 3..<7:
            commands.append(
                try request(
                    "awardSubGrant",
                    [
                        "subGrantId": "SG\(Int.random(in: 0..<40, using: &rng))",
                        "grantId": "G\(Int.random(in: 1...2, using: &rng))",
                        "organisationId": "S\(Int.random(in: 0..<12, using: &rng))", "awardedOn": "2025-04-01",
                        "amount": "\(Int.random(in: 5...30, using: &rng) * 1000)", "purpose": "p",
                    ], id: id))
        case 7:
            commands.append(
                try request(
                    "cancelSubGrant",
                    [
                        "subGrantId": "SG\(Int.random(in: 0..<40, using: &rng))", "cancelledOn": "2025-05-01",
                        "reason": "r",
                    ], id: id))
        default:
            let application = Int.random(in: 3...8, using: &rng)
            commands.append(
                try request(
                    "awardGrant",
                    [
                        "grantId": "GA\(application)", "applicationId": "A\(application)",
                        "contractNumber": "CN-\(Int.random(in: 10..<14, using: &rng))", "awardedOn": "2025-03-01",
                        "amount": "300000", "startDate": "2025-03-01", "endDate": "2026-12-31",
                        "subGrantingEnvelope": "0",
                    ], id: id))
        }
    }
    return commands
}

/// The programme the random commands run against: a lead, a call of 2,000,000, grants G1
/// and G2 with envelopes of 100,000 and 60,000, and applications A3-A8 of 300,000 each.
private func seedProgramme(_ handler: CommandHandler) async throws -> [CommandRequest] {
    var seed: [CommandRequest] = [
        try request(
            "registerOrganisation",
            [
                "organisationId": "LEAD", "name": "Lead", "country": "KZ", "regionCode": "KZ-71", "settlement": "urban",
                "registrationStatus": "registered", "bin": "950440001673", "leadershipGender": "mixed", "kind": "ngo",
            ], id: "seed-lead"),
        try request(
            "publishCall",
            [
                "callId": "C1", "reference": "R", "title": "T", "programme": "CSO-LA", "publishedOn": "2025-01-01",
                "deadline": "2025-12-31", "budget": "2000000", "minGrant": "100000", "maxGrant": "1000000",
                "subGrantingAllowed": true, "maxSubGrant": "60000",
            ], id: "seed-call"),
    ]
    for index in 1...8 {
        seed.append(
            try request(
                "formConsortium",
                [
                    "consortiumId": "K\(index)", "name": "K\(index)",
                    "members": [["organisationId": "LEAD", "role": "lead"]],
                ],
                id: "seed-k\(index)"))
        seed.append(
            try request(
                "submitApplication",
                [
                    "applicationId": "A\(index)", "callId": "C1", "consortiumId": "K\(index)",
                    "submittedOn": "2025-02-01",
                    "requestedAmount": index <= 2 ? "500000" : "300000",
                ], id: "seed-a\(index)"))
    }
    for (grant, envelope) in [(1, "100000"), (2, "60000")] {
        seed.append(
            try request(
                "awardGrant",
                [
                    "grantId": "G\(grant)", "applicationId": "A\(grant)", "contractNumber": "CN-\(grant)",
                    "awardedOn": "2025-03-01", "amount": "500000", "startDate": "2025-03-01", "endDate": "2026-12-31",
                    "subGrantingEnvelope": envelope,
                ], id: "seed-g\(grant)"))
    }
    for command in seed { _ = try await handler.handle(command, actor: "seed") }
    return seed
}

@Suite("Commands decided from memory and appended with their guards")
struct MemoryDecisionTests {
    @Test("16 sub-grants on one envelope from two processes' memories and one under locks: exactly the 6 that fit")
    func envelopeRaceFromMemory() async throws {
        let db = try await TestDatabase.make()
        let locks = try await processHandler(db, fromMemory: false)
        _ = try await seedProgramme(locks)
        for index in 0..<16 {
            _ = try await locks.handle(
                try request(
                    "registerOrganisation",
                    [
                        "organisationId": "S\(index)", "name": "S\(index)", "country": "KZ", "regionCode": "KZ-61",
                        "settlement": "rural", "registrationStatus": "unregistered", "leadershipGender": "women",
                        "kind": "informalGroup",
                    ], id: "org-\(index)"), actor: "seed")
        }
        let first = try await processHandler(db, fromMemory: true)
        let second = try await processHandler(db, fromMemory: true)
        let handlers = [first, second, locks]
        let results = await withTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<16 {
                group.addTask {
                    do {
                        _ = try await handlers[index % 3].handle(
                            try request(
                                "awardSubGrant",
                                [
                                    "subGrantId": "SG\(index)", "grantId": "G1", "organisationId": "S\(index)",
                                    "awardedOn": "2025-04-01", "amount": "15000", "purpose": "p",
                                ], id: "sg-\(index)"), actor: "race")
                        return (index, nil)
                    } catch let error as DomainError where error.code == .ruleViolated {
                        return (index, "ruleViolated")
                    } catch {
                        return (index, "\(error)")
                    }
                }
            }
            return await group.reduce(into: [(Int, String?)]()) { $0.append($1) }
        }
        let accepted = results.filter { $0.1 == nil }.map(\.0)
        #expect(accepted.count == 6, "\(results)")
        #expect(results.filter { $0.1 != nil }.allSatisfy { $0.1 == "ruleViolated" }, "\(results)")
        let recorded = try await db.committedEvents().filter { $0.type == "SubGrantAwarded" }
        #expect(Set(recorded.map(\.streamID)) == Set(accepted.map { "subgrant-SG\($0)" }))
    }

    @Test(
        "a memory behind the log never decides wrongly: the guard sends it forward, and the store confirms the refusal")
    func staleMemory() async throws {
        let db = try await TestDatabase.make()
        let locks = try await processHandler(db, fromMemory: false)
        _ = try await seedProgramme(locks)
        let process = try await processHandler(db, fromMemory: true)
        let memory = try #require(process.memory)
        // Uncontended: decided from memory, one append.
        _ = try await process.handle(try organisation("X"), actor: "t")
        _ = try await process.handle(try organisation("Y"), actor: "t")
        #expect(memory.decisionCounts.fromMemory == 2)
        // No catch-up of the memory runs from here until a decision asks for one.
        try await memory.catchUp()
        // Another process fills G1's envelope (100,000) behind this memory's back.
        let standing = memory.position
        _ = try await locks.handle(try subGrant("F1", grant: "G1", to: "X", amount: "60000"), actor: "t")
        _ = try await locks.handle(try subGrant("F2", grant: "G1", to: "Y", amount: "40000"), actor: "t")
        // To the memory as it stood, 10,000 more fit; the guard on the grant says otherwise.
        #expect(memory.position == standing)
        do {
            _ = try await process.handle(try subGrant("S1", grant: "G1", to: "X", amount: "10000"), actor: "t")
            Issue.record("a sub-grant beyond the envelope was accepted from a stale memory")
        } catch let error as DomainError {
            #expect(error.code == .ruleViolated)
            #expect(error.message.contains("envelope"), "\(error.message)")
        }
        #expect(memory.decisionCounts.underLocks == 1)
        let recorded = try await db.committedEvents().filter { $0.type == "SubGrantAwarded" }.map(\.streamID)
        #expect(Set(recorded) == ["subgrant-F1", "subgrant-F2"])
        // G2's envelope is untouched, but the call and Y changed too (F1 and F2 held them):
        // once the memory has read F2 (the readers' gap-free horizon may hold it back while
        // other tests write), the award is decided from memory again.
        let head = try await db.committedEvents().map(\.position).max() ?? 0
        #expect(
            try await eventually(timeout: .seconds(30)) {
                try await memory.catchUp()
                return memory.position >= head
            })
        _ = try await process.handle(try subGrant("S2", grant: "G2", to: "Y", amount: "10000"), actor: "t")
        #expect(memory.decisionCounts.fromMemory == 3)
        // The guards name what each command held.
        let guards = try await db.owner().query(
            "SELECT key FROM command_guards WHERE position = (SELECT max(position) FROM events) ORDER BY key"
        ).map { try $0.decode(String.self) }
        #expect(guards == ["call-C1", "grant-G2", "organisation-Y", "subgrant-S2"])
    }

    @Test(
        "a run of commands decided from a memory behind the log is refused whole and decided again under locks",
        .timeLimit(.minutes(4)))
    func staleRun() async throws {
        let db = try await TestDatabase.make()
        let locks = try await processHandler(db, fromMemory: false)
        _ = try await seedProgramme(locks)
        _ = try await locks.handle(try organisation("X"), actor: "t")
        _ = try await locks.handle(try organisation("Y"), actor: "t")
        let importer = try await processHandler(db, fromMemory: true)
        let memory = try #require(importer.memory)
        // The memory reads up to the cluster's gap-free horizon, which another test's open
        // transaction may hold back: wait until it has read everything written so far, so
        // that what it misses below is only what the holder hides.
        let written = try await db.committedEvents().map(\.position).max() ?? 0
        #expect(
            try await eventually(timeout: .seconds(60)) {
                try await memory.catchUp()
                return memory.position >= written
            })
        let standing = memory.position
        // An open transaction with an id holds every reader of the cluster below it,
        // this memory's catch-up included; what the other process writes next is committed
        // but out of the memory's sight.
        let holder = try await db.admin()
        try await holder.query("BEGIN")
        _ = try await holder.query("SELECT pg_current_xact_id()")
        _ = try await locks.handle(try subGrant("F1", grant: "G1", to: "X", amount: "60000"), actor: "t")
        _ = try await locks.handle(try subGrant("F2", grant: "G1", to: "Y", amount: "40000"), actor: "t")
        _ = try await locks.handle(try organisation("W"), actor: "t")
        func run(_ requests: [CommandRequest]) async throws -> [Result<CommandOutcome, DomainError>] {
            var answers: [Result<CommandOutcome, DomainError>] = []
            try await importer.handle(requests.map { .success($0) }, actor: "import") { answers.append($1) }
            return answers
        }
        // W's registration, sent again with its id: to the memory it is new; the store
        // refuses the decision (W changed after the memory's position), and under locks the
        // answer is the first acceptance.
        let again = try await run([try organisation("W")])
        #expect(memory.position == standing, "the memory must still stand where it did")
        #expect(try again.first?.get().replayed == true, "\(again)")
        // A sub-grant the full envelope no longer holds, then a registration: decided together
        // from memory, refused together on G1's guard, then each answered under locks.
        let answers = try await run([
            try subGrant("S1", grant: "G1", to: "X", amount: "10000"), try organisation("Z"),
        ])
        #expect(memory.position == standing)
        #expect(answers.count == 2)
        if case .failure(let error) = answers.first {
            #expect(error.code == .ruleViolated && error.message.contains("envelope"), "\(error.message)")
        } else {
            Issue.record("a sub-grant beyond the envelope was accepted from a stale memory: \(answers)")
        }
        #expect((try? answers.last?.get().replayed) == false, "\(answers)")
        try await holder.query("COMMIT")
        let recorded = try await db.committedEvents()
        #expect(!recorded.contains { $0.streamID == "subgrant-S1" })
        #expect(recorded.filter { $0.streamID == "organisation-W" }.count == 1)
        #expect(recorded.filter { $0.streamID == "organisation-Z" }.count == 1)
        // Nothing of the refused runs took a position: the log has no gap.
        let positions = recorded.map(\.position)
        #expect(positions == Array(1...Int64(positions.count)))
    }

    @Test("concurrent commands in one process are committed in groups, each answered with its own events or refusal")
    func groupCommit() async throws {
        let db = try await TestDatabase.make()
        let process = try await processHandler(db, fromMemory: true)
        let memory = try #require(process.memory)
        // 60 registrations at once, every third one of an organisation registered by another.
        let answers = await withTaskGroup(of: (Int, Result<CommandOutcome, DomainError>).self) { group in
            for index in 0..<60 {
                group.addTask {
                    let id = index % 3 == 2 ? "O\(index - 1)" : "O\(index)"
                    var command = try! organisation(id)
                    command.commandId = "register-\(index)"
                    do {
                        return (index, .success(try await process.handle(command, actor: "group")))
                    } catch let error as DomainError {
                        return (index, .failure(error))
                    } catch {
                        return (index, .failure(DomainError(.invalid, "\(error)")))
                    }
                }
            }
            return await group.reduce(into: [Int: Result<CommandOutcome, DomainError>]()) { $0[$1.0] = $1.1 }
        }
        // Of each pair sharing an id, exactly one is accepted; the other is refused as existing.
        for pair in stride(from: 1, to: 60, by: 3) {
            let outcomes = [answers[pair], answers[pair + 1]]
            let accepted = outcomes.compactMap { try? $0?.get() }
            #expect(accepted.count == 1, "O\(pair): \(outcomes)")
            #expect(accepted.first?.events.map(\.streamID) == ["organisation-O\(pair)"])
            let refused = outcomes.compactMap { result -> DomainError? in
                if case .failure(let error)? = result { return error }
                return nil
            }
            #expect(refused.map(\.code) == [.alreadyExists], "O\(pair): \(outcomes)")
        }
        let accepted = answers.values.compactMap { try? $0.get() }
        #expect(accepted.count == 40)
        // Each answer carries the positions its own events took in the log.
        let log = try await db.committedEvents()
        let byPosition = Dictionary(uniqueKeysWithValues: log.map { ($0.position, $0.streamID) })
        for outcome in accepted {
            for event in outcome.events { #expect(byPosition[event.position] == event.streamID) }
        }
        #expect(log.count == 40)
        // Fewer commits than commands: those that arrived together shared one.
        let counted = try await db.owner().query("SELECT count(DISTINCT transaction_id)::int8 FROM events")
            .map { try $0.decode(Int64.self) }
        #expect(try #require(counted.first) < 40)
        #expect(memory.decisionCounts.fromMemory >= 40)
    }

    @Test("an import decides the sample programme from memory, 128 commands to a transaction")
    func importRuns() async throws {
        let db = try await TestDatabase.make()
        let importer = try await processHandler(db, fromMemory: true)
        let lines = try String(
            contentsOf: CLI.repository.appendingPathComponent("deploy/sample/programme.jsonl"), encoding: .utf8
        ).split(separator: "\n")
        let requests = lines.map { line in
            Result<CommandRequest, DomainError> { () throws(DomainError) in try CommandRequest.parse(String(line)) }
        }
        var accepted = 0
        try await importer.handle(requests, actor: "import") { _, answer in
            if case .success = answer { accepted += 1 }
        }
        #expect(accepted == lines.count)
        let fromMemory = try #require(importer.memory).decisionCounts.fromMemory
        // Sign-offs and erasures go alone to the store; every other command is decided from memory.
        let alone = lines.filter { $0.contains("signOffIndicatorReport") || $0.contains("erasePersonalData") }.count
        #expect(fromMemory == lines.count - alone, "\(fromMemory) of \(lines.count)")
        let counted = try await db.owner().query("SELECT count(DISTINCT transaction_id)::int8 FROM events")
            .map { try $0.decode(Int64.self) }
        let transactions = try #require(counted.first)
        #expect(transactions <= Int64(lines.count / CommandHandler.memoryBatchSize + 1 + 2 * alone), "\(transactions)")
    }

    @Test("the store refuses a decision from memory of a command id it accepted before, and replays it under locks")
    func acceptedIdFromMemory() async throws {
        let db = try await TestDatabase.make()
        let digest = EventStore.digest("{}")
        func append(decidedAt: Int64?) async throws -> AppendResult {
            try await db.pool.withConnection { connection in
                try await StoreSession(connection: connection).append(
                    [NewEvent(streamID: "s-1", type: "Noted", data: "{}", metadata: "{}")], expected: [:],
                    commandID: "once", payloadDigest: digest, guards: CommandGuards(keys: ["s-1"], decidedAt: decidedAt)
                )
            }
        }
        let first = try await append(decidedAt: nil)
        #expect(!first.replayed)
        let head = try #require(first.events.last?.position)
        // No key changed after `head`: only the id tells that the decision is void.
        do {
            _ = try await append(decidedAt: head)
            Issue.record("a decision from memory of an accepted id was answered as a replay")
        } catch EventStoreError.commandAccepted {
            // The store's answer: decide it under locks.
        } catch {
            Issue.record("expected commandAccepted, got \(error)")
        }
        #expect(try await append(decidedAt: nil).replayed)
        #expect(try await db.committedEvents().count == 1)
    }

    @Test(
        "random commands from two processes deciding from memory and an import at once: the log is a serial order of them",
        arguments: [UInt64(1), 2, 3, 4, 5, 6], [false, true])
    func serialisable(seed: UInt64, importFromMemory: Bool) async throws {
        let db = try await TestDatabase.make()
        let importer = try await processHandler(db, fromMemory: importFromMemory)
        let seedCommands = try await seedProgramme(importer)
        let first = try await processHandler(db, fromMemory: true)
        let second = try await processHandler(db, fromMemory: true)
        let commands = try randomCommands(seed: seed, count: 90)
        let byId = Dictionary(
            uniqueKeysWithValues: (seedCommands + commands).compactMap { c in c.commandId.map { ($0, c) } })
        // Three submitters at once: each process sends its commands one at a time, as HTTP
        // clients would; the import sends its share in batches.
        let shares = (0..<3).map { part in commands.enumerated().filter { $0.offset % 3 == part }.map(\.element) }
        let answers = try await withThrowingTaskGroup(of: [(String, String?)].self) { group in
            for (handler, share) in [(first, shares[0]), (second, shares[1])] {
                group.addTask {
                    var answers: [(String, String?)] = []
                    for command in share {
                        do {
                            _ = try await handler.handle(command, actor: "process")
                            answers.append((command.commandId ?? "", nil))
                        } catch let error as DomainError {
                            answers.append((command.commandId ?? "", "\(error.code)"))
                        }
                    }
                    return answers
                }
            }
            group.addTask {
                var answers: [(String, String?)] = []
                try await importer.handle(shares[2].map { .success($0) }, actor: "import") { index, answer in
                    switch answer {
                    case .success: answers.append((shares[2][index].commandId ?? "", nil))
                    case .failure(let error): answers.append((shares[2][index].commandId ?? "", "\(error.code)"))
                    }
                }
                return answers
            }
            return try await group.reduce(into: [(String, String?)]()) { $0 += $1 }
        }
        #expect(answers.count == commands.count)
        let rejectionCodes = Set(answers.compactMap(\.1))
        // The rules' refusals, or `conflict` when concurrent commands kept winning a
        // command's locks (on a loaded machine, the locked path's five tries can all lose):
        // a conflict records nothing, which the log check below holds it to.
        #expect(
            rejectionCodes.isSubset(of: ["ruleViolated", "alreadyExists", "notFound", "conflict"]), "\(rejectionCodes)")
        let accepted = Set(answers.filter { $0.1 == nil }.map(\.0))

        // The log, command by command in the order of their positions.
        let rows = try await db.pool.withConnection { connection in
            try await connection.query(
                "SELECT position, stream_id, type, metadata->>'commandId' FROM events ORDER BY position"
            ).map { try $0.decode((Int64, String, String, String).self) }
        }
        var order: [String] = []
        var recorded: [String: [String]] = [:]
        for (_, stream, type, commandId) in rows {
            if recorded[commandId] == nil { order.append(commandId) }
            recorded[commandId, default: []].append(stream + " " + type)
        }
        // Every acknowledged command is in the log once; nothing else is.
        #expect(Set(order) == accepted.union(seedCommands.compactMap(\.commandId)))
        #expect(order.count == Set(order).count)
        // Deciding the same commands one after another in that order accepts each of them
        // with the same events: the concurrent run is that serial one.
        var history = InMemoryHistory()
        for commandId in order {
            guard let command = byId[commandId] else {
                Issue.record("\(commandId) in the log was never sent")
                continue
            }
            do {
                let events = try await history.execute(command.command)
                #expect(events.map { $0.streamID + " " + $0.type } == recorded[commandId], "\(commandId)")
            } catch {
                Issue.record("\(commandId), accepted concurrently, is refused in the serial order: \(error)")
            }
        }
        // And the rules hold in the final state: no envelope or budget overdrawn.
        for grant in ["G1", "G2"] {
            let state = try #require(try await history.grant(grant))
            let used = try await history.subGrants(ofGrant: grant).filter { $0.cancelled == nil }.map(\.award.amount)
                .sum()
            #expect(used <= state.award.subGrantingEnvelope)
        }
        let awarded = try await history.grantAwards(ofCall: "C1").map(\.amount).sum()
        #expect(awarded <= (try #require(Money("2000000"))))
        let fromMemory = [first, second, importer].compactMap { $0.memory?.decisionCounts.fromMemory }.reduce(0, +)
        #expect(fromMemory > 0)
    }
}
