// The study settings form: show only the settings the chosen test type reads. Each setting's
// wrapper names its types (data-for-types="ccr smos"); without this script every setting shows,
// each labelled with the types it is for, and the server ignores the others.

const box = document.querySelector("[data-test-type-settings]");

function chosen() {
  const radio = box.querySelector('input[name="test_type"]:checked');
  return radio ? radio.value : "acr";
}

function update() {
  const type = chosen();
  for (const setting of box.querySelectorAll("[data-for-types]")) {
    setting.hidden = !setting.dataset.forTypes.split(" ").includes(type);
  }
}

if (box) {
  box.addEventListener("change", (event) => {
    if (event.target.name === "test_type") update();
  });
  update();
}
