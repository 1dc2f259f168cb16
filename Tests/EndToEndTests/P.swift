import XCTest
final class E2EP: XCTestCase {}
