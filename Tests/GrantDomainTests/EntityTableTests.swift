import GrantDomain
import Testing

@Suite("The entity table")
struct EntityTableTests {
    @Test("one row per kind, in the kinds' order, every name unique")
    func rows() {
        #expect(EntityTable.specs.map(\.kind) == EntityKind.allCases)
        for names in [
            EntityTable.specs.map(\.streamPrefix), EntityTable.specs.map(\.idField),
            EntityTable.specs.map(\.cliName), EntityTable.specs.map(\.path),
        ] {
            #expect(Set(names).count == names.count, "\(names)")
        }
        for kind in EntityKind.allCases {
            #expect(EntityTable.kind(cliName: kind.argumentName) == kind)
            #expect(kind.spec.kind == kind)
        }
        #expect(EntityTable.kind(cliName: "subGrant") == nil)
    }

    @Test("stream names are the ones the log has always used")
    func streams() {
        #expect(Streams.organisation("O-1") == "organisation-O-1")
        #expect(Streams.subGrant("SG-1") == "subgrant-SG-1")
        #expect(EntityKind.grant.stream("GR-1") == "grant-GR-1")
        #expect(EntityKind.subGrant.pointer == "subGrantId")
        #expect(EntityKind.subGrant.argumentName == "sub-grant")
        for kind in EntityKind.allCases {
            let found = EntityTable.entity(ofStream: kind.stream("X-1"))
            #expect(found?.kind == kind && found?.id == "X-1", "\(kind)")
        }
        #expect(EntityTable.entity(ofStream: Streams.reportingRules) == nil)
        #expect(EntityTable.entity(ofStream: Streams.indicatorTarget("T-1")) == nil)
    }

    @Test("every creating command and id field is in the command table")
    func commands() {
        let names = Set(CommandTable.specs.map(\.name))
        for spec in EntityTable.specs {
            #expect(names.contains(spec.creatingCommand), "\(spec.creatingCommand)")
            let fields = CommandTable.specs.first { $0.name == spec.creatingCommand }?.fields.map(\.name) ?? []
            #expect(fields.contains(spec.idField), "\(spec.creatingCommand) has no \(spec.idField)")
        }
    }
}
