/// Checks a command against the recorded history and returns the events it records.
///
/// - Throws: `DomainError` when the command is rejected (nothing is recorded), or the
///   reader's error when the history cannot be read.
public func decide(_ command: Command, reader: some StateReader) async throws -> [DomainEvent] {
    do {
        return try await rules(command, reader: reader)
    } catch let rejection as Rejection {
        // The one place a rejection gets its command's name (docs/domain.md §5).
        throw DomainError(rejection.code, "\(command.name): \(rejection.message)")
    }
}

/// Why `rules` refuses a command, without the command's name, which `decide` puts first.
/// The reader's own errors are `DomainError`s and pass through as they are.
struct Rejection: Error {
    var code: ErrorCode
    var message: String

    static func notFound(_ message: String) -> Rejection { Rejection(code: .notFound, message: message) }
    static func alreadyExists(_ message: String) -> Rejection { Rejection(code: .alreadyExists, message: message) }
    static func rule(_ message: String) -> Rejection { Rejection(code: .ruleViolated, message: message) }
}

/// The §2 rules of each command.
private func rules(_ command: Command, reader: some StateReader) async throws -> [DomainEvent] {
    switch command {
    case .registerOrganisation(let c):
        if try await reader.organisation(c.organisationId) != nil {
            throw Rejection.alreadyExists(
                "organisationId \"\(c.organisationId)\" is already registered")
        }
        return [.organisationRegistered(c)]

    case .updateOrganisationProfile(let c):
        let profile = try await existing(
            reader.organisation(c.organisationId), "organisation", c.organisationId)
        try profile.applying(c).validate(command: "updateOrganisationProfile")
        return [.organisationProfileUpdated(c)]

    case .erasePersonalData(let c):
        _ = try await existing(reader.organisation(c.organisationId), "organisation", c.organisationId)
        if try await reader.textsInClear(ofOrganisation: c.organisationId) {
            throw Rejection.rule(
                "organisation \"\(c.organisationId)\" has texts recorded in clear, before texts were encrypted "
                    + "(its name, or a sub-grant's purpose or cancellation reason); destroying a key cannot erase them "
                    + "(docs/operations.md, \"Erasure in a log recorded in clear\")")
        }
        return [.personalDataErased(c)]

    case .setReportingRules(let c):
        _ = try await reader.reportingRules()
        return [.reportingRulesSet(c)]

    case .publishCall(let c):
        if try await reader.call(c.callId) != nil {
            throw Rejection.alreadyExists("callId \"\(c.callId)\" is already published")
        }
        if c.deadline < c.publishedOn {
            throw Rejection.rule("\"deadline\" \(c.deadline) is before \"publishedOn\" \(c.publishedOn)")
        }
        if c.minGrant > c.maxGrant {
            throw Rejection.rule("\"minGrant\" \(c.minGrant) exceeds \"maxGrant\" \(c.maxGrant)")
        }
        if c.maxGrant > c.budget {
            throw Rejection.rule("\"maxGrant\" \(c.maxGrant) exceeds \"budget\" \(c.budget)")
        }
        if let cap = c.maxSubGrant, cap > PublishCall.subGrantCap {
            throw Rejection.rule("\"maxSubGrant\" \(cap) exceeds the EU cap of 60000 per third party")
        }
        return [.callPublished(c)]

    case .closeCall(let c):
        let call = try await existing(reader.call(c.callId), "call", c.callId)
        if let closed = call.closed {
            throw Rejection.rule("call \"\(c.callId)\" was already closed on \(closed.closedOn)")
        }
        try require(c.closedOn, "closedOn", notBefore: call.call.publishedOn, "the call was published")
        return [.callClosed(c)]

    case .formConsortium(let c):
        if try await reader.consortium(c.consortiumId) != nil {
            throw Rejection.alreadyExists("consortiumId \"\(c.consortiumId)\" already exists")
        }
        for member in c.members {
            _ = try await existing(
                reader.organisation(member.organisationId), "member organisation", member.organisationId)
        }
        return [.consortiumFormed(c)]

    case .addConsortiumMember(let c):
        let consortium = try await changeableConsortium(c.consortiumId, reader: reader)
        _ = try await existing(
            reader.organisation(c.organisationId), "organisation", c.organisationId)
        if consortium.members.contains(where: { $0.organisationId == c.organisationId }) {
            throw Rejection.rule(
                "organisation \"\(c.organisationId)\" is already a member of \"\(c.consortiumId)\""
            )
        }
        return [.consortiumMemberAdded(c)]

    case .removeConsortiumMember(let c):
        let consortium = try await changeableConsortium(
            c.consortiumId, reader: reader)
        guard let member = consortium.members.first(where: { $0.organisationId == c.organisationId }) else {
            throw Rejection.notFound(
                "organisation \"\(c.organisationId)\" is not a member of \"\(c.consortiumId)\"")
        }
        if member.role == .lead {
            throw Rejection.rule(
                "\"\(c.organisationId)\" is the lead of \"\(c.consortiumId)\" and cannot be removed"
            )
        }
        return [.consortiumMemberRemoved(c)]

    case .submitApplication(let c):
        if try await reader.application(c.applicationId) != nil {
            throw Rejection.alreadyExists("applicationId \"\(c.applicationId)\" already exists")
        }
        let call = try await existing(reader.call(c.callId), "call", c.callId)
        _ = try await existing(reader.consortium(c.consortiumId), "consortium", c.consortiumId)
        if let closed = call.closed {
            throw Rejection.rule(
                "call \"\(c.callId)\" was closed on \(closed.closedOn) and takes no new applications"
            )
        }
        if c.submittedOn > call.call.deadline {
            throw Rejection.rule(
                "\"submittedOn\" \(c.submittedOn) is after the call's deadline \(call.call.deadline)"
            )
        }
        try require(
            c.submittedOn, "submittedOn", notBefore: call.call.publishedOn, "the call was published")
        if c.requestedAmount < call.call.minGrant || c.requestedAmount > call.call.maxGrant {
            throw Rejection.rule(
                "\"requestedAmount\" \(c.requestedAmount) is outside the call's range \(call.call.minGrant)..\(call.call.maxGrant)"
            )
        }
        let earlier = try await reader.applications(ofConsortium: c.consortiumId, call: c.callId)
        if let live = earlier.first(where: \.isLive) {
            throw Rejection.rule(
                "consortium \"\(c.consortiumId)\" already has a live application \"\(live.submission.applicationId)\" to call \"\(c.callId)\""
            )
        }
        return [.applicationSubmitted(c)]

    case .evaluateApplication(let c):
        let application = try await openApplication(c.applicationId, reader: reader)
        try require(
            c.evaluatedOn, "evaluatedOn", notBefore: application.submission.submittedOn,
            "the application was submitted")
        return [.applicationEvaluated(c)]

    case .rejectApplication(let c):
        let application = try await openApplication(c.applicationId, reader: reader)
        try require(
            c.rejectedOn, "rejectedOn", notBefore: application.submission.submittedOn, "the application was submitted")
        return [.applicationRejected(c)]

    case .withdrawApplication(let c):
        let application = try await openApplication(c.applicationId, reader: reader)
        try require(
            c.withdrawnOn, "withdrawnOn", notBefore: application.submission.submittedOn,
            "the application was submitted")
        return [.applicationWithdrawn(c)]

    case .awardGrant(let c):
        return [.grantAwarded(try await award(c, reader: reader))]

    case .disburseGrant(let c):
        let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId)
        if let closed = grant.closed {
            throw Rejection.rule("grant \"\(c.grantId)\" was closed on \(closed.closedOn)")
        }
        try require(c.paidOn, "paidOn", notBefore: grant.award.awardedOn, "the grant was awarded")
        if grant.disbursed + c.amount > grant.award.amount {
            throw Rejection.rule(
                "tranche \(c.amount) would bring disbursements to \(grant.disbursed + c.amount), above the grant amount \(grant.award.amount)"
            )
        }
        return [.grantTrancheDisbursed(c)]

    case .closeGrant(let c):
        let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId)
        if let closed = grant.closed {
            throw Rejection.rule("grant \"\(c.grantId)\" was already closed on \(closed.closedOn)")
        }
        try require(c.closedOn, "closedOn", notBefore: grant.award.awardedOn, "the grant was awarded")
        return [.grantClosed(c)]

    case .awardSubGrant(let c):
        return [.subGrantAwarded(try await award(c, reader: reader))]

    case .disburseSubGrant(let c):
        let subGrant = try await existing(
            reader.subGrant(c.subGrantId), "sub-grant", c.subGrantId)
        if let cancelled = subGrant.cancelled {
            throw Rejection.rule(
                "sub-grant \"\(c.subGrantId)\" was cancelled on \(cancelled.cancelledOn)")
        }
        try require(
            c.paidOn, "paidOn", notBefore: subGrant.award.awardedOn, "the sub-grant was awarded")
        if subGrant.disbursed + c.amount > subGrant.award.amount {
            throw Rejection.rule(
                "payment \(c.amount) would bring payments to \(subGrant.disbursed + c.amount), above the sub-grant amount \(subGrant.award.amount)"
            )
        }
        return [.subGrantDisbursed(c)]

    case .signOffIndicatorReport(let c):
        if let earlier = try await reader.indicatorReport(c.reportId) {
            throw Rejection.alreadyExists(
                "reportId \"\(c.reportId)\" was already signed off on \(earlier.signedOffOn)")
        }
        if let callId = c.callId {
            _ = try await existing(reader.call(callId), "call", callId)
        }
        let head = try await reader.logHead()
        if c.position > head {
            throw Rejection.rule(
                "\"position\" \(c.position) is beyond the last recorded event (position \(head))"
            )
        }
        let (figures, asOf) = try await reader.indicatorFigures(c, at: c.position)
        return [.indicatorReportSignedOff(IndicatorReportSignedOff(c, SignOffDerived(figures: figures, asOf: asOf)))]

    case .setIndicatorTarget(let c):
        // A revision of an existing target is allowed; reading it queues concurrent revisions.
        _ = try await reader.indicatorTarget(c.targetId)
        return [.indicatorTargetSet(c)]

    case .cancelSubGrant(let c):
        let subGrant = try await existing(
            reader.subGrant(c.subGrantId), "sub-grant", c.subGrantId)
        // Cancelling frees envelope: take the grant's guard too.
        _ = try await reader.grant(subGrant.award.grantId)
        if let cancelled = subGrant.cancelled {
            throw Rejection.rule(
                "sub-grant \"\(c.subGrantId)\" was already cancelled on \(cancelled.cancelledOn)")
        }
        if subGrant.disbursed > .zero {
            throw Rejection.rule(
                "sub-grant \"\(c.subGrantId)\" has payments (\(subGrant.disbursed)); only an unpaid sub-grant can be cancelled"
            )
        }
        try require(
            c.cancelledOn, "cancelledOn", notBefore: subGrant.award.awardedOn, "the sub-grant was awarded")
        return [.subGrantCancelled(c)]

    case .recordActivity(let c):
        if try await reader.activity(c.activityId) != nil {
            throw Rejection.alreadyExists("activityId \"\(c.activityId)\" already exists")
        }
        if let grantId = c.grantId {
            let grant = try await existing(reader.grant(grantId), "grant", grantId)
            if c.startedOn < grant.award.startDate || c.startedOn > grant.award.endDate {
                throw Rejection.rule(
                    "\"startedOn\" \(c.startedOn) is outside the period of grant \"\(grantId)\" \(grant.award.startDate)..\(grant.award.endDate)"
                )
            }
        }
        if let unknown = try await reader.unregisteredOrganisations(c.participants).first {
            throw Rejection.notFound("participant organisation \"\(unknown)\" does not exist")
        }
        return [.activityRecorded(c)]

    case .retractActivity(let c):
        let activity = try await existing(reader.activity(c.activityId), "activity", c.activityId)
        if let retracted = activity.retracted {
            throw Rejection.rule("activity \"\(c.activityId)\" was already retracted on \(retracted.retractedOn)")
        }
        try require(c.retractedOn, "retractedOn", notBefore: activity.recorded.startedOn, "the activity started")
        return [.activityRetracted(c)]

    case .recordIndexValue(let c):
        // Recording a year again revises it: the latest event of its stream is in force. Read
        // (and so locked) first, so that two revisions of one year take their turns.
        _ = try await reader.indexValue(c.indexId, year: c.year)
        return [.indexValueRecorded(c)]
    }
}

private func changeableConsortium(_ id: String, reader: some StateReader) async throws
    -> ConsortiumState
{
    let consortium = try await existing(reader.consortium(id), "consortium", id)
    if let grant = try await reader.grantAwards(ofConsortium: id).first {
        throw Rejection.rule(
            "consortium \"\(id)\" was awarded grant \"\(grant.grantId)\"; its membership is fixed")
    }
    return consortium
}

/// A live application that has not been awarded.
private func openApplication(_ id: String, reader: some StateReader) async throws -> ApplicationState {
    let application = try await existing(reader.application(id), "application", id)
    if let rejected = application.rejected {
        throw Rejection.rule("application \"\(id)\" was rejected on \(rejected.rejectedOn)")
    }
    if let withdrawn = application.withdrawn {
        throw Rejection.rule("application \"\(id)\" was withdrawn on \(withdrawn.withdrawnOn)")
    }
    let grants = try await reader.grantAwards(ofCall: application.submission.callId)
    if let grant = grants.first(where: { $0.applicationId == id }) {
        throw Rejection.rule("application \"\(id)\" was already awarded grant \"\(grant.grantId)\"")
    }
    return application
}

private func award(_ c: AwardGrant, reader: some StateReader) async throws -> GrantAwarded {
    if try await reader.grant(c.grantId) != nil {
        throw Rejection.alreadyExists("grantId \"\(c.grantId)\" already exists")
    }
    let application = try await existing(
        reader.application(c.applicationId), "application", c.applicationId)
    let submission = application.submission
    let call = try await existing(reader.call(submission.callId), "call", submission.callId)
    let consortium = try await existing(
        reader.consortium(submission.consortiumId), "consortium", submission.consortiumId)
    _ = try await openApplication(c.applicationId, reader: reader)
    if let holder = try await reader.grantId(withContractNumber: c.contractNumber) {
        throw Rejection.alreadyExists(
            "contractNumber \"\(c.contractNumber)\" is already used by grant \"\(holder)\"")
    }
    try require(
        c.awardedOn, "awardedOn", notBefore: submission.submittedOn, "the application was submitted")
    if c.amount > submission.requestedAmount {
        throw Rejection.rule(
            "\"amount\" \(c.amount) exceeds the requested amount \(submission.requestedAmount)")
    }
    if c.amount < call.call.minGrant || c.amount > call.call.maxGrant {
        throw Rejection.rule(
            "\"amount\" \(c.amount) is outside the call's range \(call.call.minGrant)..\(call.call.maxGrant)"
        )
    }
    if !call.call.subGrantingAllowed && c.subGrantingEnvelope != .zero {
        throw Rejection.rule(
            "\"subGrantingEnvelope\" is \(c.subGrantingEnvelope) but call \"\(call.call.callId)\" does not allow sub-granting; it must be \"0\""
        )
    }
    let committed = try await reader.grantAwards(ofCall: call.call.callId).map(\.amount).sum()
    if committed + c.amount > call.call.budget {
        throw Rejection.rule(
            "\"amount\" \(c.amount) would bring awards under call \"\(call.call.callId)\" to \(committed + c.amount), above its budget \(call.call.budget)"
        )
    }
    return GrantAwarded(
        c, AwardDerived(callId: call.call.callId, consortiumId: consortium.consortiumId, members: consortium.members))
}

private func award(_ c: AwardSubGrant, reader: some StateReader) async throws -> SubGrantAwarded {
    if try await reader.subGrant(c.subGrantId) != nil {
        throw Rejection.alreadyExists("subGrantId \"\(c.subGrantId)\" already exists")
    }
    let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId)
    _ = try await existing(reader.organisation(c.organisationId), "organisation", c.organisationId)
    if let closed = grant.closed {
        throw Rejection.rule("grant \"\(c.grantId)\" was closed on \(closed.closedOn)")
    }
    if grant.award.members.contains(where: { $0.role == .lead && $0.organisationId == c.organisationId }) {
        throw Rejection.rule(
            "organisation \"\(c.organisationId)\" leads grant \"\(c.grantId)\" and cannot receive its sub-grants"
        )
    }
    if c.awardedOn < grant.award.startDate || c.awardedOn > grant.award.endDate {
        throw Rejection.rule(
            "\"awardedOn\" \(c.awardedOn) is outside the grant period \(grant.award.startDate)..\(grant.award.endDate)"
        )
    }
    let call = try await existing(reader.call(grant.award.callId), "call", grant.award.callId)
    guard let cap = call.call.maxSubGrant else {
        throw Rejection.rule("call \"\(call.call.callId)\" does not allow sub-granting")
    }
    if c.amount > cap {
        throw Rejection.rule("\"amount\" \(c.amount) exceeds the call's \"maxSubGrant\" \(cap)")
    }
    let used = try await reader.subGrants(ofGrant: c.grantId).filter { $0.cancelled == nil }.map(\.award.amount).sum()
    if used + c.amount > grant.award.subGrantingEnvelope {
        throw Rejection.rule(
            "\"amount\" \(c.amount) would bring sub-grants of \"\(c.grantId)\" to \(used + c.amount), above its envelope \(grant.award.subGrantingEnvelope) (\(grant.award.subGrantingEnvelope - used) free)"
        )
    }
    return SubGrantAwarded(c, SubGrantDerived(callId: call.call.callId))
}

/// The entity a command names, which must exist: `kind "id" does not exist` otherwise.
private func existing<T>(_ entity: T?, _ kind: String, _ id: String) throws(Rejection) -> T {
    guard let entity else { throw .notFound("\(kind) \"\(id)\" does not exist") }
    return entity
}

/// Refuses a business date before the date of an earlier step of the same entity:
/// `"field" date is before step (earliest)`.
private func require(
    _ date: BusinessDate, _ field: String, notBefore earliest: BusinessDate, _ step: String
) throws(Rejection) {
    if date < earliest { throw .rule("\"\(field)\" \(date) is before \(step) (\(earliest))") }
}
