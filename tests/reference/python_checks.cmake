# Cross-checks of `weakdistill eval` and the hashing embedder against independent Python
# implementations. Included by tests/CMakeLists.txt. Always Debian's /usr/bin/python3 (never a
# pyenv/venv python3 on PATH), so NLTK and numpy come from the python3-nltk and python3-numpy
# packages that scripts/setup.sh installs.
set(WEAKDISTILL_SYSTEM_PYTHON /usr/bin/python3)
set(_reference_dir ${CMAKE_CURRENT_LIST_DIR})

if(NOT EXISTS ${WEAKDISTILL_SYSTEM_PYTHON})
  message(WARNING "${WEAKDISTILL_SYSTEM_PYTHON} not found: the Python metric cross-checks will "
                  "fail until it is installed (scripts/setup.sh).")
  foreach(name python_check_metrics python_check_bleu_nltk python_check_hashing_embedder
               python_check_seq2seq_reference)
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo
             "${WEAKDISTILL_SYSTEM_PYTHON} not found; run scripts/setup.sh")
    set_tests_properties(${name} PROPERTIES LABELS integration WILL_FAIL TRUE)
  endforeach()
  return()
endif()

# Every number of `weakdistill eval --json` and --per-sample against metrics_reference.py, on
# random cases and (when present) realistic predictions on data/.
add_test(NAME python_check_metrics
         COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} ${_reference_dir}/check_metrics.py
                 $<TARGET_FILE:weakdistill> ${PROJECT_SOURCE_DIR}/data
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
# TIMEOUT only guards against a hang: under ASan on 2 cores the metrics check takes 91 s, so 300 s
# left a slower machine too little room; the per-call subprocess timeouts are gone for the same
# reason.
set_tests_properties(python_check_metrics PROPERTIES LABELS integration TIMEOUT 1800)

# bleu4 against nltk.translate.bleu_score.corpus_bleu. When NLTK is missing the test is still
# registered: the script then fails, saying to install python3-nltk. The check below only warns
# at configure time, since NLTK may be installed after configuring.
execute_process(COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} -c "import nltk.translate.bleu_score"
                RESULT_VARIABLE _nltk_missing OUTPUT_QUIET ERROR_QUIET)
if(_nltk_missing)
  message(WARNING "NLTK is not importable by ${WEAKDISTILL_SYSTEM_PYTHON}: the test "
                  "python_check_bleu_nltk will fail until python3-nltk is installed "
                  "(scripts/setup.sh installs it; or: sudo apt-get install python3-nltk).")
endif()
add_test(NAME python_check_bleu_nltk
         COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} ${_reference_dir}/check_bleu_nltk.py
                 $<TARGET_FILE:weakdistill> ${PROJECT_SOURCE_DIR}/data
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(python_check_bleu_nltk PROPERTIES LABELS integration TIMEOUT 1800)

# The `hashing` embedder's vectors (written by a GoogleTest of embed_tests) against
# hashing_embedder_reference.py, an independent numpy implementation of the definition in
# include/weakdistill/embed/hashing_embedder.h, on a few hundred synthetic and (when present) LCSTS
# texts.
if(TARGET embed_tests)
  execute_process(COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} -c "import numpy"
                  RESULT_VARIABLE _numpy_missing OUTPUT_QUIET ERROR_QUIET)
  if(_numpy_missing)
    message(WARNING "numpy is not importable by ${WEAKDISTILL_SYSTEM_PYTHON}: the test "
                    "python_check_hashing_embedder will fail until python3-numpy is installed.")
  endif()
  add_test(NAME python_check_hashing_embedder
           COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} ${_reference_dir}/hashing_embedder_reference.py
                   $<TARGET_FILE:embed_tests>
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(python_check_hashing_embedder PROPERTIES LABELS integration TIMEOUT 1800)
endif()

# The independent reader of exported Hugging Face folders checks itself: its CRF decoding against
# enumeration of every path, and that it catches renamed tensors, wrong shapes, bad labels and
# perturbed predictions (tests/cli/export_test.cc runs it on real exports).
add_test(NAME python_check_hf_export_reader
         COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} ${_reference_dir}/hf_export_reference.py selftest
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(python_check_hf_export_reader PROPERTIES LABELS unit TIMEOUT 600)

# The float64 BART/Pegasus reference (tests/reference/seq2seq_reference.py, which the seq2seq
# student's tests run) checks itself: its forward against a torch.nn.functional implementation,
# the decoder one token at a time against the causal pass, padding, the Pegasus sinusoid against
# hand-computed entries, F16/BF16 folders against the F32 ones rounded, and wide beam search
# against brute-force enumeration. Needs python3-torch and python3-numpy.
execute_process(COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} -c "import torch, numpy"
                RESULT_VARIABLE _torch_missing OUTPUT_QUIET ERROR_QUIET)
if(_torch_missing)
  message(WARNING "torch or numpy is not importable by ${WEAKDISTILL_SYSTEM_PYTHON}: the test "
                  "python_check_seq2seq_reference will fail until python3-torch and "
                  "python3-numpy are installed (scripts/setup.sh).")
endif()
add_test(NAME python_check_seq2seq_reference
         COMMAND ${WEAKDISTILL_SYSTEM_PYTHON} ${_reference_dir}/seq2seq_reference.py selftest
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(python_check_seq2seq_reference PROPERTIES LABELS unit TIMEOUT 600)
