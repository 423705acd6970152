import { render } from "preact";
import { Root } from "./root";
import "./styles.css";

const root = document.getElementById("app");
if (root) render(<Root />, root);
