import ArgumentParser
import GrantDomain

// One subcommand per docs/domain.md command: kebab-case names, flags named after the fields.
// Each builds the docs/domain.md JSON object and goes through the same parser as `submit`, so
// the rules and messages are the same whichever way a command arrives.

struct RegisterOrganisationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "register-organisation", abstract: "Register an organisation (OrganisationRegistered).")
    @Option var organisationId: String
    @Option var name: String
    @Option(help: "ISO 3166-1 alpha-2, e.g. KZ.") var country: String
    @Option(help: "ISO 3166-2:KZ code (KZ only), e.g. KZ-61.") var regionCode: String?
    @Option(help: "urban or rural (KZ only).") var settlement: String?
    @Option(help: "registered or unregistered.") var registrationStatus: String
    @Option(help: "12-digit BIN (registered KZ organisations).") var bin: String?
    @Option(help: "women, men, mixed or undisclosed.") var leadershipGender: String
    @Option(help: "ingo, ngo, publicAssociation, foundation, informalGroup or other.") var kind: String
    @Option(help: "Money, e.g. 45000.") var annualBudgetEur: String?
    @Option var staffCount: Int?
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "registerOrganisation",
                [
                    ("organisationId", .from(organisationId)), ("name", .from(name)), ("country", .from(country)),
                    ("regionCode", .from(regionCode)), ("settlement", .from(settlement)),
                    ("registrationStatus", .from(registrationStatus)), ("bin", .from(bin)),
                    ("leadershipGender", .from(leadershipGender)), ("kind", .from(kind)),
                    ("annualBudgetEur", .from(annualBudgetEur)), ("staffCount", .from(staffCount)),
                ]), options: options)
    }
}

struct UpdateOrganisationProfileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update-organisation-profile",
        abstract: "Change some fields of an organisation's profile (OrganisationProfileUpdated).")
    @Option var organisationId: String
    @Option var name: String?
    @Option var regionCode: String?
    @Option var settlement: String?
    @Option var registrationStatus: String?
    @Option var bin: String?
    @Option var leadershipGender: String?
    @Option var kind: String?
    @Option var annualBudgetEur: String?
    @Option var staffCount: Int?
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "updateOrganisationProfile",
                [
                    ("organisationId", .from(organisationId)), ("name", .from(name)), ("regionCode", .from(regionCode)),
                    ("settlement", .from(settlement)), ("registrationStatus", .from(registrationStatus)),
                    ("bin", .from(bin)), ("leadershipGender", .from(leadershipGender)), ("kind", .from(kind)),
                    ("annualBudgetEur", .from(annualBudgetEur)), ("staffCount", .from(staffCount)),
                ]), options: options)
    }
}

struct SetReportingRulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set-reporting-rules", abstract: "Set the thresholds of a small CSO (ReportingRulesSet).")
    @Option var smallMaxAnnualBudgetEur: String
    @Option var smallMaxStaff: Int
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "setReportingRules",
                [("smallMaxAnnualBudgetEur", .from(smallMaxAnnualBudgetEur)), ("smallMaxStaff", .from(smallMaxStaff))]),
            options: options)
    }
}

struct PublishCallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish-call", abstract: "Publish a call for proposals (CallPublished).")
    @Option var callId: String
    @Option(help: "e.g. EuropeAid/178123/DD/ACT/KZ") var reference: String
    @Option var title: String
    @Option(help: "e.g. CSO-LA, EIDHR") var programme: String
    @Option var publishedOn: String
    @Option var deadline: String
    @Option var budget: String
    @Option var minGrant: String
    @Option var maxGrant: String
    @Option(help: "true or false") var subGrantingAllowed: Bool
    @Option(help: "Required when sub-granting is allowed; at most 60000.") var maxSubGrant: String?
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "publishCall",
                [
                    ("callId", .from(callId)), ("reference", .from(reference)), ("title", .from(title)),
                    ("programme", .from(programme)), ("publishedOn", .from(publishedOn)),
                    ("deadline", .from(deadline)), ("budget", .from(budget)), ("minGrant", .from(minGrant)),
                    ("maxGrant", .from(maxGrant)), ("subGrantingAllowed", .bool(subGrantingAllowed)),
                    ("maxSubGrant", .from(maxSubGrant)),
                ]), options: options)
    }
}

struct CloseCallCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "close-call", abstract: "Close a call (CallClosed).")
    @Option var callId: String
    @Option var closedOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields("closeCall", [("callId", .from(callId)), ("closedOn", .from(closedOn))]), options: options)
    }
}

struct FormConsortiumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "form-consortium", abstract: "Form a consortium (ConsortiumFormed).",
        discussion: "Members: repeat --member ORGANISATION_ID:ROLE, or give --members-json '[{\"organisationId\":…,\"role\":…}]'.")
    @Option var consortiumId: String
    @Option var name: String
    @Option(name: .customLong("member"), help: "ORGANISATION_ID:ROLE (lead, coApplicant, affiliatedEntity, associate); repeat.")
    var members: [String] = []
    @Option(help: "The members as a JSON list.") var membersJson: String?
    @OptionGroup var options: WriteOptions

    func validate() throws {
        if members.isEmpty == (membersJson == nil) {
            throw ValidationError("give the members either as --member ORG:ROLE (repeated) or as --members-json")
        }
        for member in members where member.split(separator: ":").count != 2 {
            throw ValidationError("--member \(member): expected ORGANISATION_ID:ROLE")
        }
    }

    func run() async throws {
        let list: JSONValue
        if let membersJson {
            guard let parsed = JSONValue.parse(membersJson) else {
                throw reportRejection(DomainError(.invalid, "--members-json is not valid JSON"), format: options.format)
            }
            list = parsed
        } else {
            list = .array(
                members.map { member in
                    let parts = member.split(separator: ":").map(String.init)
                    return .object(["organisationId": .string(parts[0]), "role": .string(parts[1])])
                })
        }
        try await runCommand(
            commandFields(
                "formConsortium", [("consortiumId", .from(consortiumId)), ("name", .from(name)), ("members", list)]),
            options: options)
    }
}

struct AddConsortiumMemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add-consortium-member", abstract: "Add a member to a consortium (ConsortiumMemberAdded).")
    @Option var consortiumId: String
    @Option var organisationId: String
    @Option(help: "coApplicant, affiliatedEntity or associate.") var role: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "addConsortiumMember",
                [("consortiumId", .from(consortiumId)), ("organisationId", .from(organisationId)), ("role", .from(role))]),
            options: options)
    }
}

struct RemoveConsortiumMemberCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove-consortium-member",
        abstract: "Remove a member from a consortium (ConsortiumMemberRemoved).")
    @Option var consortiumId: String
    @Option var organisationId: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "removeConsortiumMember",
                [("consortiumId", .from(consortiumId)), ("organisationId", .from(organisationId))]), options: options)
    }
}

struct SubmitApplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit-application", abstract: "Record a consortium's application (ApplicationSubmitted).")
    @Option var applicationId: String
    @Option var callId: String
    @Option var consortiumId: String
    @Option var submittedOn: String
    @Option var requestedAmount: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "submitApplication",
                [
                    ("applicationId", .from(applicationId)), ("callId", .from(callId)),
                    ("consortiumId", .from(consortiumId)), ("submittedOn", .from(submittedOn)),
                    ("requestedAmount", .from(requestedAmount)),
                ]), options: options)
    }
}

struct EvaluateApplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate-application", abstract: "Record an evaluation score (ApplicationEvaluated).")
    @Option var applicationId: String
    @Option(help: "0-100") var score: Int
    @Option var evaluatedOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "evaluateApplication",
                [("applicationId", .from(applicationId)), ("score", .from(score)), ("evaluatedOn", .from(evaluatedOn))]),
            options: options)
    }
}

struct RejectApplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject-application", abstract: "Reject an application (ApplicationRejected).")
    @Option var applicationId: String
    @Option var rejectedOn: String
    @Option var reason: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "rejectApplication",
                [("applicationId", .from(applicationId)), ("rejectedOn", .from(rejectedOn)), ("reason", .from(reason))]),
            options: options)
    }
}

struct WithdrawApplicationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "withdraw-application", abstract: "Withdraw an application (ApplicationWithdrawn).")
    @Option var applicationId: String
    @Option var withdrawnOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "withdrawApplication", [("applicationId", .from(applicationId)), ("withdrawnOn", .from(withdrawnOn))]),
            options: options)
    }
}

struct AwardGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "award-grant", abstract: "Award a grant on an application (GrantAwarded).")
    @Option var grantId: String
    @Option var applicationId: String
    @Option var contractNumber: String
    @Option var awardedOn: String
    @Option var amount: String
    @Option var startDate: String
    @Option var endDate: String
    @Option(help: "Money for sub-grants; 0 when the call does not allow sub-granting.") var subGrantingEnvelope: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "awardGrant",
                [
                    ("grantId", .from(grantId)), ("applicationId", .from(applicationId)),
                    ("contractNumber", .from(contractNumber)), ("awardedOn", .from(awardedOn)),
                    ("amount", .from(amount)), ("startDate", .from(startDate)), ("endDate", .from(endDate)),
                    ("subGrantingEnvelope", .from(subGrantingEnvelope)),
                ]), options: options)
    }
}

struct DisburseGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disburse-grant", abstract: "Pay a tranche of a grant (GrantTrancheDisbursed).")
    @Option var grantId: String
    @Option var amount: String
    @Option var paidOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "disburseGrant", [("grantId", .from(grantId)), ("amount", .from(amount)), ("paidOn", .from(paidOn))]),
            options: options)
    }
}

struct CloseGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "close-grant", abstract: "Close a grant (GrantClosed).")
    @Option var grantId: String
    @Option var closedOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields("closeGrant", [("grantId", .from(grantId)), ("closedOn", .from(closedOn))]), options: options)
    }
}

struct AwardSubGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "award-sub-grant", abstract: "Award a sub-grant from a grant's envelope (SubGrantAwarded).")
    @Option var subGrantId: String
    @Option var grantId: String
    @Option var organisationId: String
    @Option var awardedOn: String
    @Option var amount: String
    @Option var purpose: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "awardSubGrant",
                [
                    ("subGrantId", .from(subGrantId)), ("grantId", .from(grantId)),
                    ("organisationId", .from(organisationId)), ("awardedOn", .from(awardedOn)),
                    ("amount", .from(amount)), ("purpose", .from(purpose)),
                ]), options: options)
    }
}

struct DisburseSubGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disburse-sub-grant", abstract: "Pay (part of) a sub-grant (SubGrantDisbursed).")
    @Option var subGrantId: String
    @Option var amount: String
    @Option var paidOn: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "disburseSubGrant",
                [("subGrantId", .from(subGrantId)), ("amount", .from(amount)), ("paidOn", .from(paidOn))]),
            options: options)
    }
}

struct CancelSubGrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel-sub-grant", abstract: "Cancel an unpaid sub-grant (SubGrantCancelled).")
    @Option var subGrantId: String
    @Option var cancelledOn: String
    @Option var reason: String
    @OptionGroup var options: WriteOptions

    func run() async throws {
        try await runCommand(
            commandFields(
                "cancelSubGrant",
                [("subGrantId", .from(subGrantId)), ("cancelledOn", .from(cancelledOn)), ("reason", .from(reason))]),
            options: options)
    }
}

/// All domain command subcommands, in docs/domain.md order.
let domainSubcommands: [any ParsableCommand.Type] = [
    RegisterOrganisationCommand.self, UpdateOrganisationProfileCommand.self, SetReportingRulesCommand.self,
    PublishCallCommand.self, CloseCallCommand.self, FormConsortiumCommand.self, AddConsortiumMemberCommand.self,
    RemoveConsortiumMemberCommand.self, SubmitApplicationCommand.self, EvaluateApplicationCommand.self,
    RejectApplicationCommand.self, WithdrawApplicationCommand.self, AwardGrantCommand.self, DisburseGrantCommand.self,
    CloseGrantCommand.self, AwardSubGrantCommand.self, DisburseSubGrantCommand.self, CancelSubGrantCommand.self,
]
