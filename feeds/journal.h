// The `.ticks` journal: one include for the writer, the reader and the record layout (journal_format.h).
#pragma once
#include "feeds/journal_format.h"
#include "feeds/journal_reader.h"
#include "feeds/journal_writer.h"
