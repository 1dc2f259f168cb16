// `--http`'s address and the page's numbers: what the command line and the pump rely on, each case once.
@testable import ThudWeb
import XCTest

final class WebSettingsTests: XCTestCase {
    func testAddresses() {
        XCTAssertEqual(WebSettings.parseAddress("8080").map { "\($0.host) \($0.port)" }, "127.0.0.1 8080", "a port alone is loopback")
        XCTAssertEqual(WebSettings.parseAddress("0.0.0.0:80").map { "\($0.host) \($0.port)" }, "0.0.0.0 80")
        XCTAssertEqual(WebSettings.parseAddress("[::1]:9000").map { "\($0.host) \($0.port)" }, "::1 9000")
        XCTAssertEqual(WebSettings.parseAddress("localhost:0").map { "\($0.host) \($0.port)" }, "localhost 0")
        for bad in ["", "http", ":80", "host:", "host:65536", "[::1]", "[::1]9000", "1.2.3.4:-1"] {
            XCTAssertNil(WebSettings.parseAddress(bad), bad)
        }
        XCTAssertTrue(["127.0.0.1", "127.8.9.10", "::1", "localhost"].allSatisfy(WebSettings.isLoopback))
        XCTAssertFalse(["0.0.0.0", "::", "192.168.1.2", "example.org"].contains(where: WebSettings.isLoopback))
    }

    func testTokensCompareWhole() {
        let same = TokenMiddleware<WebContext>.sameToken("abcdefghijklmnop")
        XCTAssertTrue(same("abcdefghijklmnop"))
        XCTAssertFalse(same("abcdefghijklmno"), "a prefix is not the token")
        XCTAssertFalse(same("abcdefghijklmnopq"), "nor is a longer one")
        XCTAssertFalse(same(""))
    }

    func testThreeDecimalsWithoutAFormatter() {
        XCTAssertEqual(WebHub.fixed3(0), "0.000")
        XCTAssertEqual(WebHub.fixed3(1.23456), "1.235")
        XCTAssertEqual(WebHub.fixed3(0.0405), "0.041")
        XCTAssertEqual(WebHub.fixed3(12.5), "12.500")
        XCTAssertEqual(WebHub.fixed3(-0.25), "-0.250")
        XCTAssertEqual(WebHub.fixed3(-0.0001), "0.000", "no negative zero")
        XCTAssertEqual(WebHub.fixed3(.nan), "null")
    }
}
