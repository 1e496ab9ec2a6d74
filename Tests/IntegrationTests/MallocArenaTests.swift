import GrantLedgerHTTP
import Testing

@Suite("serve's malloc arenas")
struct MallocArenaTests {
    @Test("one arena per processor, at least two, unless the operator set MALLOC_ARENA_MAX")
    func limit() {
        #expect(MallocArenas.limit(environment: [:], processors: 1) == 2)
        #expect(MallocArenas.limit(environment: [:], processors: 2) == 2)
        #expect(MallocArenas.limit(environment: [:], processors: 48) == 48)
        #expect(MallocArenas.limit(environment: ["PATH": "/usr/bin"], processors: 8) == 8)
        #expect(MallocArenas.limit(environment: ["MALLOC_ARENA_MAX": "4"], processors: 8) == nil)
        #expect(MallocArenas.limit(environment: ["MALLOC_ARENA_MAX": ""], processors: 8) == nil)
        #expect(MallocArenas.limit(environment: [:], processors: .max) == .max)
    }

    @Test("glibc takes the limit")
    func applied() {
        #if os(Linux)
            #expect(MallocArenas.apply(environment: [:], processors: 64) == 64)
        #endif
        #expect(MallocArenas.apply(environment: ["MALLOC_ARENA_MAX": "2"], processors: 4) == nil)
    }
}
