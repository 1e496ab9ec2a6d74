import GrantDomain
import Testing

/// §14: a sign-off of any indicator but I.3 restated at a later cut-off. Applying the
/// restatement's changes to what was signed off gives what counts now, over random
/// histories with retractions, late recordings, profile changes and index revisions.
struct IndicatorRestatementTests {
    static func ledger(_ log: ArraySlice<DomainEvent>) -> ActivityLedger {
        var ledger = ActivityLedger()
        for (index, event) in log.enumerated() { ledger.apply(event, at: Int64(index + 1)) }
        return ledger
    }

    @Test(
        "applying the changes to the signed-off figures gives the current ones, for every indicator",
        arguments: [UInt64(11), 12, 13, 14, 15, 16])
    func changesReachTheCurrentFigures(seed: UInt64) async throws {
        let history = try await activityHistory(seed: seed)
        var rng = Seeded(state: seed &* 104_729)
        var changed = 0  // restatements with something in them
        for _ in 0..<10 {
            let position = Int.random(in: 1...history.log.count, using: &rng)
            let cut = Int.random(in: position...history.log.count, using: &rng)
            let then = Self.ledger(history.log[..<position])
            let now = Self.ledger(history.log[..<cut])
            let between = (position..<cut).map {
                LoggedEvent(position: Int64($0 + 1), recordedAt: "2026-01-01T00:00:00Z", event: history.log[$0])
            }
            let from = BusinessDate("\(Int.random(in: 2024...2026, using: &rng))-01-01")!
            let to = BusinessDate("\(from.year + Int.random(in: 0...1, using: &rng))-12-31")!
            let programme: String? = Bool.random(using: &rng) ? nil : "CSO-LA"
            for indicator in Indicator.allCases where indicator != .i3 {
                let definition = indicator.definition
                let query = IndicatorQuery(
                    from: from, to: to, programme: indicator == .i5 ? nil : programme)
                let signOff = IndicatorReportSignedOff(
                    SignOffIndicatorReport(
                        reportId: "R", indicator: indicator, from: from, to: to, programme: query.programme,
                        position: Int64(position), signedOffOn: BusinessDate("2026-01-20")!),
                    SignOffDerived(
                        figures: .indicator(then.figures(definition, query)),
                        asOf: LogPoint(position: Int64(position), recordedAt: nil, hash: "h")))
                let restatement = IndicatorRestatement(
                    signOff, actor: "m.e", then: then, now: now,
                    asOf: LogPoint(position: Int64(cut), recordedAt: nil, hash: "h2"), between: between)
                let signed = then.figures(definition, query)
                let current = now.figures(definition, query)
                #expect(restatement.signedOff.value == signed.value && restatement.current.value == current.value)
                if !restatement.changes.isEmpty { changed += 1 }
                for change in restatement.changes {
                    guard case .activity(let c) = change else { continue }
                    #expect(!c.causes.isEmpty, "\(indicator.rawValue) \(c.activityId) has no cause")
                }
                switch definition.measure {
                case .activities, .people:
                    var ids = Set(then.qualifying(definition, query).map(\.activity.activityId))
                    for case .activity(let c) in restatement.changes {
                        if c.change == "added" { #expect(ids.insert(c.activityId).inserted) }
                        if c.change == "removed" { #expect(ids.remove(c.activityId) != nil) }
                    }
                    #expect(ids == Set(now.qualifying(definition, query).map(\.activity.activityId)))
                case .organisations:
                    func cells(_ ledger: ActivityLedger) -> [String: String] {
                        ledger.womenLedFirsts(ledger.qualifying(definition, query)).mapValues {
                            "\($0.profile.regionCode ?? "")|\($0.profile.settlement?.rawValue ?? "")|\($0.profile.registrationStatus.rawValue)"
                        }
                    }
                    var applied = cells(then)
                    for case .organisation(let c) in restatement.changes {
                        #expect(!c.causes.isEmpty, "III.3 \(c.organisationId) has no cause")
                        applied[c.organisationId] = c.now.map {
                            "\($0.regionCode ?? "")|\($0.settlement?.rawValue ?? "")|\($0.registrationStatus.rawValue)"
                        }
                    }
                    #expect(applied == cells(now), "III.3 seed \(seed)")
                case .indices:
                    #expect(restatement.delta == nil)
                    var values: [String: String] = [:]
                    for (index, year) in then.indexYears {
                        values["\(index.rawValue)/\(year)"] = then.indexValue(index, year)?.value
                    }
                    for case .indexValue(let c) in restatement.changes {
                        #expect(!c.causes.isEmpty)
                        values["\(c.indexId.rawValue)/\(c.year)"] = c.now?.value
                    }
                    var expected: [String: String] = [:]
                    for (index, year) in now.indexYears {
                        expected["\(index.rawValue)/\(year)"] = now.indexValue(index, year)?.value
                    }
                    #expect(values == expected)
                case .smallOrganisations:
                    break
                }
                // The delta of the value and of every key is current − signed off.
                if let delta = restatement.delta {
                    #expect(delta.value == (current.value ?? 0) - (signed.value ?? 0))
                    let before = Dictionary(uniqueKeysWithValues: signed.disaggregations.map { ($0.name, $0.counts) })
                    for (name, counts) in delta.disaggregations {
                        let now = current.disaggregations.first { $0.name == name }?.counts ?? [:]
                        #expect(counts.keys.count >= now.keys.count)
                        for (key, difference) in counts {
                            #expect(difference == (now[key] ?? 0) - (before[name]?[key] ?? 0), "\(name).\(key)")
                        }
                    }
                }
            }
        }
        #expect(changed >= 5, "only \(changed) restatements changed anything")
    }

    @Test("every indicator code has its entry in the results framework's table")
    func codes() {
        for indicator in Indicator.allCases {
            #expect(ResultsFramework.indicator(indicator.rawValue)?.code == indicator.rawValue)
        }
        #expect(Indicator.allCases.count == ResultsFramework.indicators.count)
    }
}
