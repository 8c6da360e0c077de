#include "weakdistill/core/sqlite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "support/temp_dir.h"

namespace weakdistill::sqlite {
namespace {

using ::testing::HasSubstr;

TEST(Sqlite, ATransactionThatThrowsLeavesNothingBehind) {
  testing::TempDir dir;
  Database db(dir.file("t.sqlite"), "test store", "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)");
  db.transaction([&] { Statement(db, "INSERT INTO t VALUES (?1, ?2)").bind(1, std::string("a")).bind(2, std::int64_t{1}).run(); });
  EXPECT_THROW(db.transaction([&] {
    Statement(db, "INSERT INTO t VALUES ('b', 2)").run();
    throw std::runtime_error("stop");
  }),
               std::runtime_error);
  Statement count(db, "SELECT COUNT(*), MAX(v) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.integer(0), 1);
  EXPECT_EQ(count.integer(1), 1);
  EXPECT_EQ(db.integrity_check(), "ok");
}

TEST(Sqlite, ValuesComeBackAsStored) {
  testing::TempDir dir;
  Database db(dir.file("t.sqlite"), "test store", "CREATE TABLE t (s TEXT, r REAL, b BLOB, n TEXT)");
  const float v[3] = {1.5f, -2.0f, 0.25f};
  Statement(db, "INSERT INTO t VALUES (?1, ?2, ?3, ?4)")
      .bind(1, std::string("汉字\0x", 8))
      .bind(2, 0.125)
      .bind_blob(3, v, sizeof v)
      .bind_null(4)
      .run();
  Statement s(db, "SELECT s, r, b, n FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), std::string("汉字\0x", 8));  // embedded NUL kept: lengths, not C strings
  EXPECT_EQ(s.real(1), 0.125);
  const auto [data, bytes] = s.blob(2);
  ASSERT_EQ(bytes, sizeof v);
  EXPECT_EQ(static_cast<const float*>(data)[2], 0.25f);
  EXPECT_TRUE(s.is_null(3));
  EXPECT_FALSE(s.step());
}

TEST(Sqlite, ErrorsNameTheRoleAndThePath) {
  testing::TempDir dir;
  try {
    Database db(dir.file("no/such/dir/t.sqlite"), "run store");
    FAIL() << "opened";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("run store " + dir.file("no/such/dir/t.sqlite") + ": cannot open"));
  }
  Database db(dir.file("t.sqlite"), "response cache", "CREATE TABLE t (k TEXT PRIMARY KEY)");
  Statement(db, "INSERT INTO t VALUES ('a')").run();
  try {
    Statement(db, "INSERT INTO t VALUES ('a')").run();
    FAIL() << "duplicate key accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("response cache " + dir.file("t.sqlite") + ": step: UNIQUE"));
  }
  EXPECT_THROW(Statement(db, "SELECT nope FROM t"), std::runtime_error);
}

}  // namespace
}  // namespace weakdistill::sqlite
