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
        guard let profile = try await reader.organisation(c.organisationId) else {
            throw DomainError.notFound("updateOrganisationProfile: organisation \"\(c.organisationId)\" does not exist")
        }
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
        guard let call = try await reader.call(c.callId) else {
            throw DomainError.notFound("closeCall: call \"\(c.callId)\" does not exist")
        }
        if let closed = call.closed {
            throw DomainError.rule("closeCall: call \"\(c.callId)\" was already closed on \(closed.closedOn)")
        }
        if c.closedOn < call.call.publishedOn {
            throw DomainError.rule(
                "closeCall: \"closedOn\" \(c.closedOn) is before the call was published (\(call.call.publishedOn))")
        }
        return [.callClosed(c)]

    case .formConsortium(let c):
        if try await reader.consortium(c.consortiumId) != nil {
            throw DomainError.alreadyExists("formConsortium: consortiumId \"\(c.consortiumId)\" already exists")
        }
        for member in c.members where try await reader.organisation(member.organisationId) == nil {
            throw DomainError.notFound(
                "formConsortium: member organisation \"\(member.organisationId)\" does not exist")
        }
        return [.consortiumFormed(c)]

    case .addConsortiumMember(let c):
        let consortium = try await changeableConsortium(c.consortiumId, command: "addConsortiumMember", reader: reader)
        if try await reader.organisation(c.organisationId) == nil {
            throw DomainError.notFound("addConsortiumMember: organisation \"\(c.organisationId)\" does not exist")
        }
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
        guard let call = try await reader.call(c.callId) else {
            throw DomainError.notFound("submitApplication: call \"\(c.callId)\" does not exist")
        }
        guard try await reader.consortium(c.consortiumId) != nil else {
            throw DomainError.notFound("submitApplication: consortium \"\(c.consortiumId)\" does not exist")
        }
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
        if c.submittedOn < call.call.publishedOn {
            throw DomainError.rule(
                "submitApplication: \"submittedOn\" \(c.submittedOn) is before the call was published (\(call.call.publishedOn))"
            )
        }
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
        if c.evaluatedOn < application.submission.submittedOn {
            throw DomainError.rule(
                "evaluateApplication: \"evaluatedOn\" \(c.evaluatedOn) is before the application was submitted (\(application.submission.submittedOn))"
            )
        }
        return [.applicationEvaluated(c)]

    case .rejectApplication(let c):
        let application = try await openApplication(c.applicationId, command: "rejectApplication", reader: reader)
        if c.rejectedOn < application.submission.submittedOn {
            throw DomainError.rule(
                "rejectApplication: \"rejectedOn\" \(c.rejectedOn) is before the application was submitted (\(application.submission.submittedOn))"
            )
        }
        return [.applicationRejected(c)]

    case .withdrawApplication(let c):
        let application = try await openApplication(c.applicationId, command: "withdrawApplication", reader: reader)
        if c.withdrawnOn < application.submission.submittedOn {
            throw DomainError.rule(
                "withdrawApplication: \"withdrawnOn\" \(c.withdrawnOn) is before the application was submitted (\(application.submission.submittedOn))"
            )
        }
        return [.applicationWithdrawn(c)]

    case .awardGrant(let c):
        return [.grantAwarded(try await award(c, reader: reader))]

    case .disburseGrant(let c):
        guard let grant = try await reader.grant(c.grantId) else {
            throw DomainError.notFound("disburseGrant: grant \"\(c.grantId)\" does not exist")
        }
        if let closed = grant.closed {
            throw DomainError.rule("disburseGrant: grant \"\(c.grantId)\" was closed on \(closed.closedOn)")
        }
        if c.paidOn < grant.award.awardedOn {
            throw DomainError.rule(
                "disburseGrant: \"paidOn\" \(c.paidOn) is before the grant was awarded (\(grant.award.awardedOn))")
        }
        if grant.disbursed + c.amount > grant.award.amount {
            throw DomainError.rule(
                "disburseGrant: tranche \(c.amount) would bring disbursements to \(grant.disbursed + c.amount), above the grant amount \(grant.award.amount)"
            )
        }
        return [.grantTrancheDisbursed(c)]

    case .closeGrant(let c):
        guard let grant = try await reader.grant(c.grantId) else {
            throw DomainError.notFound("closeGrant: grant \"\(c.grantId)\" does not exist")
        }
        if let closed = grant.closed {
            throw DomainError.rule("closeGrant: grant \"\(c.grantId)\" was already closed on \(closed.closedOn)")
        }
        if c.closedOn < grant.award.awardedOn {
            throw DomainError.rule(
                "closeGrant: \"closedOn\" \(c.closedOn) is before the grant was awarded (\(grant.award.awardedOn))")
        }
        return [.grantClosed(c)]

    case .awardSubGrant(let c):
        return [.subGrantAwarded(try await award(c, reader: reader))]

    case .disburseSubGrant(let c):
        guard let subGrant = try await reader.subGrant(c.subGrantId) else {
            throw DomainError.notFound("disburseSubGrant: sub-grant \"\(c.subGrantId)\" does not exist")
        }
        if let cancelled = subGrant.cancelled {
            throw DomainError.rule(
                "disburseSubGrant: sub-grant \"\(c.subGrantId)\" was cancelled on \(cancelled.cancelledOn)")
        }
        if c.paidOn < subGrant.award.awardedOn {
            throw DomainError.rule(
                "disburseSubGrant: \"paidOn\" \(c.paidOn) is before the sub-grant was awarded (\(subGrant.award.awardedOn))"
            )
        }
        if subGrant.disbursed + c.amount > subGrant.award.amount {
            throw DomainError.rule(
                "disburseSubGrant: payment \(c.amount) would bring payments to \(subGrant.disbursed + c.amount), above the sub-grant amount \(subGrant.award.amount)"
            )
        }
        return [.subGrantDisbursed(c)]

    case .cancelSubGrant(let c):
        guard let subGrant = try await reader.subGrant(c.subGrantId) else {
            throw DomainError.notFound("cancelSubGrant: sub-grant \"\(c.subGrantId)\" does not exist")
        }
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
        if c.cancelledOn < subGrant.award.awardedOn {
            throw DomainError.rule(
                "cancelSubGrant: \"cancelledOn\" \(c.cancelledOn) is before the sub-grant was awarded (\(subGrant.award.awardedOn))"
            )
        }
        return [.subGrantCancelled(c)]
    }
}

private func changeableConsortium(_ id: String, command: String, reader: some StateReader) async throws
    -> ConsortiumState
{
    guard let consortium = try await reader.consortium(id) else {
        throw DomainError.notFound("\(command): consortium \"\(id)\" does not exist")
    }
    if let grant = try await reader.grantAwards(ofConsortium: id).first {
        throw DomainError.rule(
            "\(command): consortium \"\(id)\" was awarded grant \"\(grant.grantId)\"; its membership is fixed")
    }
    return consortium
}

/// A live application that has not been awarded.
private func openApplication(_ id: String, command: String, reader: some StateReader) async throws -> ApplicationState {
    guard let application = try await reader.application(id) else {
        throw DomainError.notFound("\(command): application \"\(id)\" does not exist")
    }
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
    guard let application = try await reader.application(c.applicationId) else {
        throw DomainError.notFound("awardGrant: application \"\(c.applicationId)\" does not exist")
    }
    let submission = application.submission
    guard let call = try await reader.call(submission.callId) else {
        throw DomainError.notFound("awardGrant: call \"\(submission.callId)\" does not exist")
    }
    guard let consortium = try await reader.consortium(submission.consortiumId) else {
        throw DomainError.notFound("awardGrant: consortium \"\(submission.consortiumId)\" does not exist")
    }
    _ = try await openApplication(c.applicationId, command: "awardGrant", reader: reader)
    if let holder = try await reader.grantId(withContractNumber: c.contractNumber) {
        throw DomainError.alreadyExists(
            "awardGrant: contractNumber \"\(c.contractNumber)\" is already used by grant \"\(holder)\"")
    }
    if c.awardedOn < submission.submittedOn {
        throw DomainError.rule(
            "awardGrant: \"awardedOn\" \(c.awardedOn) is before the application was submitted (\(submission.submittedOn))"
        )
    }
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
        command: c, callId: call.call.callId, consortiumId: consortium.consortiumId, members: consortium.members)
}

private func award(_ c: AwardSubGrant, reader: some StateReader) async throws -> SubGrantAwarded {
    if try await reader.subGrant(c.subGrantId) != nil {
        throw DomainError.alreadyExists("awardSubGrant: subGrantId \"\(c.subGrantId)\" already exists")
    }
    guard let grant = try await reader.grant(c.grantId) else {
        throw DomainError.notFound("awardSubGrant: grant \"\(c.grantId)\" does not exist")
    }
    guard try await reader.organisation(c.organisationId) != nil else {
        throw DomainError.notFound("awardSubGrant: organisation \"\(c.organisationId)\" does not exist")
    }
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
    guard let call = try await reader.call(grant.award.callId) else {
        throw DomainError.notFound("awardSubGrant: call \"\(grant.award.callId)\" does not exist")
    }
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
    return SubGrantAwarded(command: c, callId: call.call.callId)
}
