import Foundation
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
        #expect(Money(text)?.cents == Int128(cents))
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
        // Differences below zero (an envelope overspent outside the rules) keep their sign.
        #expect((Money.zero - Money("0.01")!).description == "-0.01")
        #expect((Money("5")! - Money("1250.5")!).description == "-1245.50")
        #expect((Money("5")! - Money("6")!).description == "-1")
    }

    @Test("a read model's sums read back as written; amounts in input stay at 13 digits, unsigned")
    func moneySums() throws {
        func tenTo(_ power: Int) -> Int128 { (0..<power).reduce(1) { value, _ in value * 10 } }
        for cents: Int128 in [0, 1, -1, 99, -100, 999_999_999_999_999, Int128(Int64.max) * 1_000, -tenTo(37)] {
            let money = Money(cents: cents)
            #expect(Money(sum: money.description) == money, "\(cents)")
        }
        for text in [
            "", "-", "--1", "+1", "1.234", ".5", "5.", "1e5", " 1", "1 ", "١", String(repeating: "9", count: 37),
        ] {
            #expect(Money(sum: text) == nil, "\(text)")
        }
        #expect(Money(sum: String(repeating: "9", count: 36))?.cents == (tenTo(36) - 1) * 100)
        // Decoding reads sums only where the projections asked for them.
        struct Document: Decodable { var total: Money }
        let wide = Data(#"{"total": "-123456789012345678.90"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Document.self, from: wide) }
        let documents = JSONDecoder()
        documents.userInfo[Money.sumsKey] = true
        #expect(try documents.decode(Document.self, from: wide).total.cents == -12_345_678_901_234_567_890)
        #expect(throws: DecodingError.self) {
            try documents.decode(Document.self, from: Data(#"{"total": "1e3"}"#.utf8))
        }
        #expect(Money("12345678901234") == nil)
        #expect(Money("-1") == nil)
    }

    @Test("sums of the largest amount stay exact far past 64 bits, and print as the same sum of texts")
    func moneyPast64Bits() throws {
        let largest = try #require(Money("9999999999999.99"))
        // 2^63 cents is passed after 9,224 of them; a million is far beyond.
        let sum = Array(repeating: largest, count: 1_000_000).sum()
        #expect(sum.cents == Int128(999_999_999_999_999) * 1_000_000)
        #expect(sum.description == "9999999999999990000")
        #expect(sum > largest)
        #expect((sum - sum).description == "0")
        #expect((Money.zero - sum).description == "-9999999999999990000")
        // What a fold does with one more cent, and what a decision compares.
        let plusOne = sum + Money(cents: 1)
        #expect(plusOne.description == "9999999999999990000.01")
        #expect(plusOne > sum)
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
