import GrantDomain
import Testing

@Suite("Values: BIN, money, dates, identifiers, regions")
struct ValueTests {
    @Test("valid BINs", arguments: ["950440001673", "990940003030"])
    func validBIN(_ bin: String) {
        #expect(BIN.isValid(bin))
    }

    @Test(
        "invalid BINs",
        arguments: ["950440001674", "990940003031", "95044000167", "9504400016733", "95044000167a", "", "950440001670"])
    func invalidBIN(_ bin: String) {
        #expect(!BIN.isValid(bin))
    }

    @Test("second weight set is used when the first sum gives 10")
    func secondWeights() {
        // Digits chosen so that Σ d·(1..11) mod 11 = 10; the check digit then comes from 3..11,1,2.
        let body = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]  // 10·1 = 10
        let second = zip(body, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]).map(*).reduce(0, +) % 11
        let bin = body.map(String.init).joined() + String(second)
        #expect(BIN.isValid(bin))
        #expect(!BIN.isValid(body.map(String.init).joined() + String((second + 1) % 10)))
    }

    @Test(
        "money parses exactly",
        arguments: [("60000", 6_000_000), ("1250.50", 125_050), ("1250.5", 125_050), ("0", 0), ("0.01", 1)])
    func money(_ text: String, _ cents: Int64) {
        #expect(Money(text)?.cents == cents)
    }

    @Test(
        "money rejects floats, signs and extra decimals",
        arguments: ["-1", "1.234", "1e5", "", ".5", "5.", "1,000", " 1", "12345678901234"])
    func badMoney(_ text: String) {
        #expect(Money(text) == nil)
    }

    @Test("money prints canonically")
    func moneyDescription() {
        #expect(Money("1250.5")!.description == "1250.50")
        #expect(Money("60000.00")!.description == "60000")
        #expect((Money("0.10")! + Money("0.20")!).description == "0.30")
    }

    @Test(
        "dates",
        arguments: [
            ("2024-02-29", true), ("2023-02-29", false), ("2025-13-01", false), ("2025-04-31", false),
            ("2025-1-01", false), ("2025-12-31", true),
        ])
    func dates(_ text: String, _ valid: Bool) {
        #expect((BusinessDate(text) != nil) == valid)
        if valid { #expect(BusinessDate(text)!.description == text) }
    }

    @Test(
        "identifiers",
        arguments: [
            ("O-1", true), ("a.b_c-d", true), ("-x", false), ("", false), ("a b", false),
            (String(repeating: "x", count: 64), true), (String(repeating: "x", count: 65), false),
        ])
    func identifiers(_ text: String, _ valid: Bool) {
        #expect(Identifier.isValid(text) == valid)
    }

    @Test("twenty regions")
    func regions() {
        #expect(Region.codes.count == 20)
        #expect(Region.isValid("KZ-62"))
        #expect(!Region.isValid("KZ-02"))
    }

    @Test(
        "shares: 0 to 1 with at most 4 decimals, written in the shortest exact form",
        arguments: [
            ("0", "0"), ("1", "1"), ("0.5", "0.5"), ("0.5000", "0.5"), ("0.4286", "0.4286"), ("1.0000", "1"),
            ("0.0001", "0.0001"), ("1.0001", nil), ("1.5", nil), ("0.12345", nil), ("-0.1", nil), (".5", nil),
            ("0.", nil), ("2", nil), ("0,5", nil), ("", nil),
        ] as [(String, String?)])
    func shares(_ text: String, _ written: String?) {
        #expect(Share(text)?.description == written)
    }

    @Test("ratios of counts round half away from zero, to exactly 4 decimals")
    func rounding() {
        #expect(Ratio(2, over: 3)?.description == "0.6667")
        #expect(Ratio(1, over: 20_000)?.description == "0.0001")  // 0.00005 rounds up
        #expect(Ratio(1, over: 20_001)?.description == "0.0000")  // 0.0000499… rounds down
        #expect(Ratio(4, over: 7)?.description == "0.5714")
        #expect(Ratio(3, over: 3)?.description == "1.0000")
        #expect(Ratio(1, over: 2)?.description == "0.5000")
        #expect(Ratio(1, over: 3)?.description == "0.3333")
        #expect(Ratio(5, over: 4)?.description == "1.2500")
        #expect(Ratio(0, over: 4)?.description == "0.0000")
        #expect(Ratio(3, over: 40_000)?.description == "0.0001")  // 0.000075 rounds up
        #expect(Ratio(7, over: 0) == nil)
    }
}
