import Foundation
import ThudCommandLine
import XCTest

/// README's "Exit codes" table is ThudCommandLine's ExitStatus, row for row: the one table every executable takes its
/// codes from (issue 37, point 4).
final class ExitStatusTableTests: XCTestCase {
    func testReadmeExitCodeTableIsExitStatus() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let section = try XCTUnwrap(text.components(separatedBy: "\n## Exit codes\n").dropFirst().first,
                                    "README.md has no \"## Exit codes\" section")
        // The table: the first run of lines starting with "|" in the section.
        let lines = section.components(separatedBy: "\n").drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        let expected = ExitStatus.markdownTable.components(separatedBy: "\n")
        XCTAssertEqual(Array(lines), expected, "README.md's exit-code table should read:\n\(ExitStatus.markdownTable)")
        // The same set of codes, said plainly (the check above also holds every meaning to the word).
        let codes = Set(lines.dropFirst(2).compactMap { $0.split(separator: "|").first.flatMap { Int32($0.trimmingCharacters(in: .whitespaces)) } })
        XCTAssertEqual(codes, Set(ExitStatus.allCases.map(\.rawValue)))
    }

    func testEveryCodeHasAMeaningAndTheCodesAreDistinct() {
        XCTAssertEqual(Set(ExitStatus.allCases.map(\.rawValue)).count, ExitStatus.allCases.count)
        for status in ExitStatus.allCases {
            XCTAssertFalse(status.meanings.isEmpty, "\(status)")
            XCTAssertFalse(status.meaning.contains("\n"), "\(status)")
            XCTAssertEqual(status.exitCode.rawValue, status.rawValue)
        }
        XCTAssertEqual(UsageError(message: "x").exitCode, ExitStatus.usage.rawValue)
    }
}
