/// Checks a command against the recorded history and returns the events it records.
///
/// - Throws: `DomainError` when the command is rejected (nothing is recorded), or the
///   reader's error when the history cannot be read.
public func decide(_ command: Command, reader: some StateReader) async throws -> [DomainEvent] {
    switch command {
    case .registerOrganisation(let c):
        if try await reader.organisation(c.organisationId) != nil {
            throw DomainError.alreadyExists(
                "registerOrganisation: organisationId \"\(c.organisationId)\" is already registered")
        }
        return [.organisationRegistered(c)]

    case .updateOrganisationProfile(let c):
        let profile = try await existing(
            reader.organisation(c.organisationId), "organisation", c.organisationId, in: "updateOrganisationProfile")
        try profile.applying(c).validate(command: "updateOrganisationProfile")
        return [.organisationProfileUpdated(c)]

    case .setReportingRules(let c):
        _ = try await reader.reportingRules()
        return [.reportingRulesSet(c)]

    case .publishCall(let c):
        if try await reader.call(c.callId) != nil {
            throw DomainError.alreadyExists("publishCall: callId \"\(c.callId)\" is already published")
        }
        if c.deadline < c.publishedOn {
            throw DomainError.rule("publishCall: \"deadline\" \(c.deadline) is before \"publishedOn\" \(c.publishedOn)")
        }
        if c.minGrant > c.maxGrant {
            throw DomainError.rule("publishCall: \"minGrant\" \(c.minGrant) exceeds \"maxGrant\" \(c.maxGrant)")
        }
        if c.maxGrant > c.budget {
            throw DomainError.rule("publishCall: \"maxGrant\" \(c.maxGrant) exceeds \"budget\" \(c.budget)")
        }
        if let cap = c.maxSubGrant, cap > PublishCall.subGrantCap {
            throw DomainError.rule("publishCall: \"maxSubGrant\" \(cap) exceeds the EU cap of 60000 per third party")
        }
        return [.callPublished(c)]

    case .closeCall(let c):
        let call = try await existing(reader.call(c.callId), "call", c.callId, in: "closeCall")
        if let closed = call.closed {
            throw DomainError.rule("closeCall: call \"\(c.callId)\" was already closed on \(closed.closedOn)")
        }
        try require(c.closedOn, "closedOn", notBefore: call.call.publishedOn, "the call was published", in: "closeCall")
        return [.callClosed(c)]

    case .formConsortium(let c):
        if try await reader.consortium(c.consortiumId) != nil {
            throw DomainError.alreadyExists("formConsortium: consortiumId \"\(c.consortiumId)\" already exists")
        }
        for member in c.members {
            _ = try await existing(
                reader.organisation(member.organisationId), "member organisation", member.organisationId,
                in: "formConsortium")
        }
        return [.consortiumFormed(c)]

    case .addConsortiumMember(let c):
        let consortium = try await changeableConsortium(c.consortiumId, command: "addConsortiumMember", reader: reader)
        _ = try await existing(
            reader.organisation(c.organisationId), "organisation", c.organisationId, in: "addConsortiumMember")
        if consortium.members.contains(where: { $0.organisationId == c.organisationId }) {
            throw DomainError.rule(
                "addConsortiumMember: organisation \"\(c.organisationId)\" is already a member of \"\(c.consortiumId)\""
            )
        }
        return [.consortiumMemberAdded(c)]

    case .removeConsortiumMember(let c):
        let consortium = try await changeableConsortium(
            c.consortiumId, command: "removeConsortiumMember", reader: reader)
        guard let member = consortium.members.first(where: { $0.organisationId == c.organisationId }) else {
            throw DomainError.notFound(
                "removeConsortiumMember: organisation \"\(c.organisationId)\" is not a member of \"\(c.consortiumId)\"")
        }
        if member.role == .lead {
            throw DomainError.rule(
                "removeConsortiumMember: \"\(c.organisationId)\" is the lead of \"\(c.consortiumId)\" and cannot be removed"
            )
        }
        return [.consortiumMemberRemoved(c)]

    case .submitApplication(let c):
        if try await reader.application(c.applicationId) != nil {
            throw DomainError.alreadyExists("submitApplication: applicationId \"\(c.applicationId)\" already exists")
        }
        let call = try await existing(reader.call(c.callId), "call", c.callId, in: "submitApplication")
        _ = try await existing(reader.consortium(c.consortiumId), "consortium", c.consortiumId, in: "submitApplication")
        if let closed = call.closed {
            throw DomainError.rule(
                "submitApplication: call \"\(c.callId)\" was closed on \(closed.closedOn) and takes no new applications"
            )
        }
        if c.submittedOn > call.call.deadline {
            throw DomainError.rule(
                "submitApplication: \"submittedOn\" \(c.submittedOn) is after the call's deadline \(call.call.deadline)"
            )
        }
        try require(
            c.submittedOn, "submittedOn", notBefore: call.call.publishedOn, "the call was published",
            in: "submitApplication")
        if c.requestedAmount < call.call.minGrant || c.requestedAmount > call.call.maxGrant {
            throw DomainError.rule(
                "submitApplication: \"requestedAmount\" \(c.requestedAmount) is outside the call's range \(call.call.minGrant)..\(call.call.maxGrant)"
            )
        }
        let earlier = try await reader.applications(ofConsortium: c.consortiumId, call: c.callId)
        if let live = earlier.first(where: \.isLive) {
            throw DomainError.rule(
                "submitApplication: consortium \"\(c.consortiumId)\" already has a live application \"\(live.submission.applicationId)\" to call \"\(c.callId)\""
            )
        }
        return [.applicationSubmitted(c)]

    case .evaluateApplication(let c):
        let application = try await openApplication(c.applicationId, command: "evaluateApplication", reader: reader)
        try require(
            c.evaluatedOn, "evaluatedOn", notBefore: application.submission.submittedOn,
            "the application was submitted", in: "evaluateApplication")
        return [.applicationEvaluated(c)]

    case .rejectApplication(let c):
        let application = try await openApplication(c.applicationId, command: "rejectApplication", reader: reader)
        try require(
            c.rejectedOn, "rejectedOn", notBefore: application.submission.submittedOn, "the application was submitted",
            in: "rejectApplication")
        return [.applicationRejected(c)]

    case .withdrawApplication(let c):
        let application = try await openApplication(c.applicationId, command: "withdrawApplication", reader: reader)
        try require(
            c.withdrawnOn, "withdrawnOn", notBefore: application.submission.submittedOn,
            "the application was submitted", in: "withdrawApplication")
        return [.applicationWithdrawn(c)]

    case .awardGrant(let c):
        return [.grantAwarded(try await award(c, reader: reader))]

    case .disburseGrant(let c):
        let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId, in: "disburseGrant")
        if let closed = grant.closed {
            throw DomainError.rule("disburseGrant: grant \"\(c.grantId)\" was closed on \(closed.closedOn)")
        }
        try require(c.paidOn, "paidOn", notBefore: grant.award.awardedOn, "the grant was awarded", in: "disburseGrant")
        if grant.disbursed + c.amount > grant.award.amount {
            throw DomainError.rule(
                "disburseGrant: tranche \(c.amount) would bring disbursements to \(grant.disbursed + c.amount), above the grant amount \(grant.award.amount)"
            )
        }
        return [.grantTrancheDisbursed(c)]

    case .closeGrant(let c):
        let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId, in: "closeGrant")
        if let closed = grant.closed {
            throw DomainError.rule("closeGrant: grant \"\(c.grantId)\" was already closed on \(closed.closedOn)")
        }
        try require(c.closedOn, "closedOn", notBefore: grant.award.awardedOn, "the grant was awarded", in: "closeGrant")
        return [.grantClosed(c)]

    case .awardSubGrant(let c):
        return [.subGrantAwarded(try await award(c, reader: reader))]

    case .disburseSubGrant(let c):
        let subGrant = try await existing(
            reader.subGrant(c.subGrantId), "sub-grant", c.subGrantId, in: "disburseSubGrant")
        if let cancelled = subGrant.cancelled {
            throw DomainError.rule(
                "disburseSubGrant: sub-grant \"\(c.subGrantId)\" was cancelled on \(cancelled.cancelledOn)")
        }
        try require(
            c.paidOn, "paidOn", notBefore: subGrant.award.awardedOn, "the sub-grant was awarded", in: "disburseSubGrant"
        )
        if subGrant.disbursed + c.amount > subGrant.award.amount {
            throw DomainError.rule(
                "disburseSubGrant: payment \(c.amount) would bring payments to \(subGrant.disbursed + c.amount), above the sub-grant amount \(subGrant.award.amount)"
            )
        }
        return [.subGrantDisbursed(c)]

    case .signOffIndicatorReport(let c):
        if let earlier = try await reader.indicatorReport(c.reportId) {
            throw DomainError.alreadyExists(
                "signOffIndicatorReport: reportId \"\(c.reportId)\" was already signed off on \(earlier.signedOffOn)")
        }
        if let callId = c.callId {
            _ = try await existing(reader.call(callId), "call", callId, in: "signOffIndicatorReport")
        }
        let head = try await reader.logHead()
        if c.position > head {
            throw DomainError.rule(
                "signOffIndicatorReport: \"position\" \(c.position) is beyond the last recorded event (position \(head))"
            )
        }
        let (figures, asOf) = try await reader.indicatorFigures(c.query, at: c.position)
        return [.indicatorReportSignedOff(IndicatorReportSignedOff(c, SignOffDerived(figures: figures, asOf: asOf)))]

    case .setIndicatorTarget(let c):
        // A revision of an existing target is allowed; reading it queues concurrent revisions.
        _ = try await reader.indicatorTarget(c.targetId)
        return [.indicatorTargetSet(c)]

    case .cancelSubGrant(let c):
        let subGrant = try await existing(
            reader.subGrant(c.subGrantId), "sub-grant", c.subGrantId, in: "cancelSubGrant")
        // Cancelling frees envelope: take the grant's guard too.
        _ = try await reader.grant(subGrant.award.grantId)
        if let cancelled = subGrant.cancelled {
            throw DomainError.rule(
                "cancelSubGrant: sub-grant \"\(c.subGrantId)\" was already cancelled on \(cancelled.cancelledOn)")
        }
        if subGrant.disbursed > .zero {
            throw DomainError.rule(
                "cancelSubGrant: sub-grant \"\(c.subGrantId)\" has payments (\(subGrant.disbursed)); only an unpaid sub-grant can be cancelled"
            )
        }
        try require(
            c.cancelledOn, "cancelledOn", notBefore: subGrant.award.awardedOn, "the sub-grant was awarded",
            in: "cancelSubGrant")
        return [.subGrantCancelled(c)]
    }
}

private func changeableConsortium(_ id: String, command: String, reader: some StateReader) async throws
    -> ConsortiumState
{
    let consortium = try await existing(reader.consortium(id), "consortium", id, in: command)
    if let grant = try await reader.grantAwards(ofConsortium: id).first {
        throw DomainError.rule(
            "\(command): consortium \"\(id)\" was awarded grant \"\(grant.grantId)\"; its membership is fixed")
    }
    return consortium
}

/// A live application that has not been awarded.
private func openApplication(_ id: String, command: String, reader: some StateReader) async throws -> ApplicationState {
    let application = try await existing(reader.application(id), "application", id, in: command)
    if let rejected = application.rejected {
        throw DomainError.rule("\(command): application \"\(id)\" was rejected on \(rejected.rejectedOn)")
    }
    if let withdrawn = application.withdrawn {
        throw DomainError.rule("\(command): application \"\(id)\" was withdrawn on \(withdrawn.withdrawnOn)")
    }
    let grants = try await reader.grantAwards(ofCall: application.submission.callId)
    if let grant = grants.first(where: { $0.applicationId == id }) {
        throw DomainError.rule("\(command): application \"\(id)\" was already awarded grant \"\(grant.grantId)\"")
    }
    return application
}

private func award(_ c: AwardGrant, reader: some StateReader) async throws -> GrantAwarded {
    if try await reader.grant(c.grantId) != nil {
        throw DomainError.alreadyExists("awardGrant: grantId \"\(c.grantId)\" already exists")
    }
    let application = try await existing(
        reader.application(c.applicationId), "application", c.applicationId, in: "awardGrant")
    let submission = application.submission
    let call = try await existing(reader.call(submission.callId), "call", submission.callId, in: "awardGrant")
    let consortium = try await existing(
        reader.consortium(submission.consortiumId), "consortium", submission.consortiumId, in: "awardGrant")
    _ = try await openApplication(c.applicationId, command: "awardGrant", reader: reader)
    if let holder = try await reader.grantId(withContractNumber: c.contractNumber) {
        throw DomainError.alreadyExists(
            "awardGrant: contractNumber \"\(c.contractNumber)\" is already used by grant \"\(holder)\"")
    }
    try require(
        c.awardedOn, "awardedOn", notBefore: submission.submittedOn, "the application was submitted", in: "awardGrant")
    if c.amount > submission.requestedAmount {
        throw DomainError.rule(
            "awardGrant: \"amount\" \(c.amount) exceeds the requested amount \(submission.requestedAmount)")
    }
    if c.amount < call.call.minGrant || c.amount > call.call.maxGrant {
        throw DomainError.rule(
            "awardGrant: \"amount\" \(c.amount) is outside the call's range \(call.call.minGrant)..\(call.call.maxGrant)"
        )
    }
    if !call.call.subGrantingAllowed && c.subGrantingEnvelope != .zero {
        throw DomainError.rule(
            "awardGrant: \"subGrantingEnvelope\" is \(c.subGrantingEnvelope) but call \"\(call.call.callId)\" does not allow sub-granting; it must be \"0\""
        )
    }
    let committed = try await reader.grantAwards(ofCall: call.call.callId).map(\.amount).sum()
    if committed + c.amount > call.call.budget {
        throw DomainError.rule(
            "awardGrant: \"amount\" \(c.amount) would bring awards under call \"\(call.call.callId)\" to \(committed + c.amount), above its budget \(call.call.budget)"
        )
    }
    return GrantAwarded(
        c, AwardDerived(callId: call.call.callId, consortiumId: consortium.consortiumId, members: consortium.members))
}

private func award(_ c: AwardSubGrant, reader: some StateReader) async throws -> SubGrantAwarded {
    if try await reader.subGrant(c.subGrantId) != nil {
        throw DomainError.alreadyExists("awardSubGrant: subGrantId \"\(c.subGrantId)\" already exists")
    }
    let grant = try await existing(reader.grant(c.grantId), "grant", c.grantId, in: "awardSubGrant")
    _ = try await existing(reader.organisation(c.organisationId), "organisation", c.organisationId, in: "awardSubGrant")
    if let closed = grant.closed {
        throw DomainError.rule("awardSubGrant: grant \"\(c.grantId)\" was closed on \(closed.closedOn)")
    }
    if grant.award.members.contains(where: { $0.role == .lead && $0.organisationId == c.organisationId }) {
        throw DomainError.rule(
            "awardSubGrant: organisation \"\(c.organisationId)\" leads grant \"\(c.grantId)\" and cannot receive its sub-grants"
        )
    }
    if c.awardedOn < grant.award.startDate || c.awardedOn > grant.award.endDate {
        throw DomainError.rule(
            "awardSubGrant: \"awardedOn\" \(c.awardedOn) is outside the grant period \(grant.award.startDate)..\(grant.award.endDate)"
        )
    }
    let call = try await existing(reader.call(grant.award.callId), "call", grant.award.callId, in: "awardSubGrant")
    guard let cap = call.call.maxSubGrant else {
        throw DomainError.rule("awardSubGrant: call \"\(call.call.callId)\" does not allow sub-granting")
    }
    if c.amount > cap {
        throw DomainError.rule("awardSubGrant: \"amount\" \(c.amount) exceeds the call's \"maxSubGrant\" \(cap)")
    }
    let used = try await reader.subGrants(ofGrant: c.grantId).filter { $0.cancelled == nil }.map(\.award.amount).sum()
    if used + c.amount > grant.award.subGrantingEnvelope {
        throw DomainError.rule(
            "awardSubGrant: \"amount\" \(c.amount) would bring sub-grants of \"\(c.grantId)\" to \(used + c.amount), above its envelope \(grant.award.subGrantingEnvelope) (\(grant.award.subGrantingEnvelope - used) free)"
        )
    }
    return SubGrantAwarded(c, SubGrantDerived(callId: call.call.callId))
}

/// The entity a command names, which must exist: `command: kind "id" does not exist` otherwise.
private func existing<T>(_ entity: T?, _ kind: String, _ id: String, in command: String) throws(DomainError) -> T {
    guard let entity else { throw .notFound("\(command): \(kind) \"\(id)\" does not exist") }
    return entity
}

/// Refuses a business date before the date of an earlier step of the same entity:
/// `command: "field" date is before step (earliest)`.
private func require(
    _ date: BusinessDate, _ field: String, notBefore earliest: BusinessDate, _ step: String, in command: String
) throws(DomainError) {
    if date < earliest { throw .rule("\(command): \"\(field)\" \(date) is before \(step) (\(earliest))") }
}
