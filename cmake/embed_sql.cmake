# Writes OUT: a C source with the migrations in SQL_FILES (sorted, numbered
cmake_policy(SET CMP0007 NEW)
# NNN_name.sql) as string literals, in order:
#   const char *const la_migrations[]; const int la_n_migrations;
# Run as: cmake -DOUT=... -DSQL_FILES="a|b" -P embed_sql.cmake
string(REPLACE "|" ";" SQL_FILES "${SQL_FILES}")
list(REMOVE_ITEM SQL_FILES "")
list(SORT SQL_FILES)
set(body "/* Generated from the migrations in schema/ at build time; do not edit. */\n")
string(APPEND body "const char *const la_migrations[] = {\n")
list(LENGTH SQL_FILES n)
foreach(f ${SQL_FILES})
  file(READ ${f} sql)
  string(REPLACE "\\" "\\\\" sql "${sql}")
  string(REPLACE "\"" "\\\"" sql "${sql}")
  string(REPLACE "\n" "\\n\"\n\"" sql "${sql}")
  get_filename_component(name ${f} NAME)
  string(APPEND body "/* ${name} */\n\"${sql}\",\n")
endforeach()
string(APPEND body "};\nconst int la_n_migrations = ${n};\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
